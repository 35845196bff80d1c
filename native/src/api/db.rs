//! SQLite handles for the API, pooled: each request takes an idle connection (or opens one),
//! runs on tokio's blocking pool, and gives it back. A semaphore bounds how many run at once,
//! so a burst of slow queries cannot take every blocking thread.

use super::errors::ApiError;
use crate::storage::StoreError;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Semaphore;

type Opener<T> = Box<dyn Fn() -> Result<T, StoreError> + Send + Sync>;

pub struct Pool<T> {
    open: Opener<T>,
    idle: Mutex<Vec<T>>,
    permits: Arc<Semaphore>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool running at most `concurrency` calls at once; `first` is an already open handle.
    pub fn new(
        concurrency: usize,
        first: T,
        open: impl Fn() -> Result<T, StoreError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Pool {
            open: Box::new(open),
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(concurrency)),
        })
    }

    /// Runs `f` on a pooled handle off the async threads.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut T) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("the node is shutting down"))?;
        let pool = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut handle = match pool.take() {
                Some(handle) => handle,
                None => (pool.open)()?,
            };
            let result = f(&mut handle);
            // A handle that hit a storage failure is dropped; the next call opens a fresh one.
            if matches!(
                result,
                Ok(_) | Err(StoreError::InvalidQuery(_) | StoreError::QueryTimeout { .. })
            ) {
                pool.put(handle);
            }
            result
        })
        .await;
        joined
            .map_err(|e| ApiError::internal(format!("a storage task failed: {e}")))?
            .map_err(ApiError::from)
    }

    fn take(&self) -> Option<T> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn put(&self, handle: T) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
    }
}
