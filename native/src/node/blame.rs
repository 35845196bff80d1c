//! Which refusals count against the peer that sent the thing refused. Only what an honest peer
//! cannot produce is blamed: a replayed or out-of-order transaction, or a block built on
//! another tip or stamped by a skewed clock, can come from an honest peer in a race.

use super::ApplyError;
use miniledger_core::mempool::AdmitError;
use miniledger_core::net::Offence;
use miniledger_core::validation::Rule;

/// The offence for a relayed transaction the mempool refused, if it is one.
pub fn transaction(error: &AdmitError) -> Option<Offence> {
    let AdmitError::Invalid(e) = error else {
        return None; // a duplicate, or our mempool is full: not the peer's fault
    };
    match e.rule {
        Rule::TxTimestamp | Rule::TxDuplicate | Rule::TxReplay | Rule::TxNonceGap => None,
        _ => Some(Offence::InvalidTransaction),
    }
}

/// The offence for a block from a peer that did not apply, if it is one (storage failures are
/// ours).
pub fn block(error: &ApplyError) -> Option<Offence> {
    let ApplyError::Invalid { error, .. } = error else {
        return None;
    };
    match error.rule {
        Rule::BlockHeight | Rule::BlockPreviousHash | Rule::BlockFutureTimestamp => None,
        _ => Some(Offence::InvalidBlock),
    }
}
