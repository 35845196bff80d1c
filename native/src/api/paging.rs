//! MiniLedger 0.2's paging: `?page=N&limit=M` (pages start at 1), answered with `page`, `limit`,
//! `total` and `totalPages` beside the items.

use super::errors::ApiError;
use super::extract::limit;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<u64>,
    limit: Option<u64>,
}

/// A page request checked against an endpoint's default and maximum `limit`.
pub struct Page {
    pub page: u64,
    pub limit: usize,
    /// Items before this page.
    pub offset: u64,
}

impl PageQuery {
    pub fn resolve(&self, default: usize, max: usize) -> Result<Page, ApiError> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::bad_request("page: pages start at 1"));
        }
        let limit = limit(self.limit, default, max)?;
        Ok(Page {
            page,
            limit,
            offset: (page - 1).saturating_mul(limit as u64),
        })
    }
}

/// Pages of `limit` items needed for `total` items.
pub fn pages(total: u64, limit: usize) -> u64 {
    total.div_ceil(limit.max(1) as u64)
}
