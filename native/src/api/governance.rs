//! `/proposals`: governance proposals, read from world state where execution keeps them
//! (`_gov:proposal:ID`, see `miniledger_core::governance`), and governance admission.
//!
//! `GET /proposals` answers MiniLedger 0.2's shape (`{proposals, count}`) with 0.2's paging
//! fields beside it (`?page=N&limit=M`: `page`, `limit`, `total`, `totalPages`); proposals come
//! in key order, that is by id (the proposing transaction's hash), so pages are stable while
//! new proposals arrive between them. `GET /proposals/:id` answers one proposal, or 404
//! `{error: "Proposal not found"}` as 0.2 does. Each proposal is shown as stored, its `status`
//! replaced by the effective one at the tip: an `active` proposal past `expiresAt` is
//! `expired`. On a MiniLedger 0.2 network governance is only recorded: there are none.
//!
//! Admission ([`admit`]): on our networks a governance transaction that would fail (not a
//! validator, a double vote, a decided proposal…) is refused with 400 naming the rule, rather
//! than committed with a failed receipt. The block still decides: two transactions admitted
//! against the same tip may still conflict.

use super::errors::ApiError;
use super::extract::{Path, Query};
use super::paging::{pages, Page, PageQuery};
use super::Ctx;
use crate::storage::{Reader, Reads, StateRecord, StoreError};
use axum::extract::State;
use axum::Json;
use miniledger_core::governance::{self, Proposal, PROPOSAL_PREFIX};
use miniledger_core::state::{StateEntry, StateView};
use miniledger_core::{Governance, PayloadBody, Transaction};
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalList {
    proposals: Vec<Value>,
    count: usize,
    page: u64,
    limit: usize,
    /// Proposals in state.
    total: u64,
    total_pages: u64,
}

/// The stored proposal with its effective status at `height`; None for a value that is not a
/// proposal (none is, but a reader does not panic on state).
fn effective(record: &StateRecord, height: u64) -> Option<Value> {
    let proposal = Proposal::from_json(&record.value)?;
    let mut value: Value = serde_json::from_str(&record.value).ok()?;
    value["status"] = proposal.status_at(height).name().into();
    Some(value)
}

pub async fn list(
    State(ctx): State<Ctx>,
    Query(q): Query<PageQuery>,
) -> Result<Json<ProposalList>, ApiError> {
    let Page {
        page,
        limit,
        offset,
    } = q.resolve(DEFAULT_LIMIT, MAX_LIMIT)?;
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let (proposals, total) = ctx
        .read(move |r| {
            r.in_snapshot(|r| {
                let height = r.height()?;
                let records = r.state_entries(Some(PROPOSAL_PREFIX), limit, skip)?;
                let proposals: Vec<Value> = records
                    .iter()
                    .filter_map(|record| effective(record, height))
                    .collect();
                Ok((proposals, r.state_count_prefix(PROPOSAL_PREFIX)?))
            })
        })
        .await?;
    Ok(Json(ProposalList {
        count: proposals.len(),
        proposals,
        page,
        limit,
        total,
        total_pages: pages(total, limit),
    }))
}

pub async fn by_id(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = governance::proposal_key(&id);
    let found = ctx
        .read(move |r| {
            r.in_snapshot(|r| {
                let height = r.height()?;
                Ok(r.state_entry(&key)?
                    .and_then(|record| effective(&record, height)))
            })
        })
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Proposal not found"))
}

/// World state through an API connection, for `governance::check` (which cannot fail): the
/// first failed read is kept and reported by [`ReaderView::finish`].
struct ReaderView<'a> {
    reader: &'a Reader,
    failure: RefCell<Option<StoreError>>,
}

impl StateView for ReaderView<'_> {
    fn get(&self, key: &str) -> Option<StateEntry> {
        match self.reader.state_entry(key) {
            Ok(record) => record.map(|r| StateEntry {
                value: r.value,
                version: r.version,
            }),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}

impl<'a> ReaderView<'a> {
    fn new(reader: &'a Reader) -> Self {
        ReaderView {
            reader,
            failure: RefCell::new(None),
        }
    }

    fn finish(self) -> Result<(), StoreError> {
        self.failure.into_inner().map_or(Ok(()), Err)
    }
}

/// Refuses (400, the rule named) a governance transaction that would fail if it were the next
/// one on top of the tip, unless this node may only be behind (`Refusal::may_be_behind`: an
/// unknown proposal, a sender not yet a validator here); any other transaction, and every one
/// on a network where governance is only recorded, passes.
pub async fn admit(ctx: &Ctx, tx: &Transaction) -> Result<(), ApiError> {
    if ctx.info.governance != Governance::OnChain || !tx.payload.body().is_governance() {
        return Ok(());
    }
    let tx = tx.clone();
    let genesis = ctx.info.validators.clone();
    let refusal = ctx
        .read(move |r| {
            r.in_snapshot(|r| {
                let height = r.height()?;
                let view = ReaderView::new(r);
                let verdict = governance::check(&tx, height + 1, &view, &genesis);
                view.finish()?;
                // What a node behind the chain may refuse wrongly is left to the block.
                Ok(verdict.err().filter(|refusal| !refusal.may_be_behind()))
            })
        })
        .await?;
    match refusal {
        Some(refusal) => Err(ApiError::bad_request(refusal.to_string())),
        None => Ok(()),
    }
}

/// [`admit`] for a payload the node is about to sign: checked as sent by the node's key.
pub async fn admit_own(ctx: &Ctx, body: &PayloadBody) -> Result<(), ApiError> {
    if !body.is_governance() {
        return Ok(());
    }
    let tx = Transaction {
        hash: String::new(),
        tx_type: body.kind().to_string(),
        sender: ctx.info.public_key.clone(),
        nonce: 0,
        timestamp: 0,
        payload: body.clone().into(),
        signature: String::new(),
    };
    admit(ctx, &tx).await
}

/// The validator set in force on top of the tip: governance's, or the genesis set.
pub async fn validators_in_force(ctx: &Ctx) -> Result<Vec<String>, ApiError> {
    let genesis = ctx.info.validators.clone();
    ctx.read(move |r| {
        let view = ReaderView::new(r);
        let set = governance::validators(&view, &genesis);
        view.finish()?;
        Ok(set)
    })
    .await
}
