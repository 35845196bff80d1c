//! `consistency=linearizable` on state reads: the answer reflects every write committed before
//! the request began (the node's read barrier, `core/src/node/reads.rs`), at the cost of a
//! round trip to the leader's quorum. Without it (`local`, the default) a read is served from
//! this node's applied state at once, which on a follower or a cut-off node may be stale.

use super::{ApiError, Ctx};
use crate::node::Command;
use serde::Deserialize;
use std::time::Duration;

/// How long a linearizable read waits for the leader's confirmation before answering 503.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// This node's applied state, now (possibly stale).
    #[default]
    Local,
    /// Confirmed current through the leader (Raft ReadIndex).
    Linearizable,
}

impl Consistency {
    /// Waits, for a linearizable read, until this node may answer it from its own store.
    pub async fn barrier(self, ctx: &Ctx) -> Result<(), ApiError> {
        if self == Consistency::Local {
            return Ok(());
        }
        let answer = tokio::time::timeout(BARRIER_TIMEOUT, ctx.ask_unbounded(Command::ReadBarrier))
            .await
            .map_err(|_| {
                ApiError::unavailable(format!(
                "linearizable read not confirmed by a leader within {} s (no quorum reachable?); \
                 nothing was read",
                BARRIER_TIMEOUT.as_secs()
            ))
            })??;
        answer
            .map(|_height| ())
            .map_err(|e| ApiError::unavailable(format!("linearizable read refused: {e}")))
    }
}
