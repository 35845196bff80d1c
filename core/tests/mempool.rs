//! Mempool admission, ordering and cleanup.

use miniledger_core::mempool::{AdmitError, Mempool};
use miniledger_core::validation::{Limits, Rule};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use std::collections::HashMap;

/// The local wall clock in these tests (the transactions are stamped 1,000 + nonce).
const NOW: u64 = 1_000;

fn tx(key: &Keypair, nonce: u64) -> Transaction {
    Transaction::new_signed(
        key,
        nonce,
        1_000 + nonce,
        PayloadBody::state_set(format!("k{nonce}"), "1").unwrap(),
    )
}

#[test]
fn admits_once_and_refuses_replays_and_forgeries() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let mut chain: HashMap<String, u64> = HashMap::new();
    chain.insert(a.public_hex().to_string(), 2);
    let mut pool = Mempool::new(10);
    pool.admit(tx(&a, 2), &limits, &chain, NOW).unwrap();
    assert_eq!(
        pool.admit(tx(&a, 2), &limits, &chain, NOW),
        Err(AdmitError::Duplicate)
    );
    match pool.admit(tx(&a, 1), &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxReplay),
        other => panic!("{other:?}"),
    }
    let mut forged = tx(&a, 3);
    forged.signature = Keypair::from_seed([9; 32]).sign(&forged.hash);
    match pool.admit(forged, &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxSignature),
        other => panic!("{other:?}"),
    }
    // A different tx reusing a pending nonce is refused.
    let other = Transaction::new_signed(&a, 2, 5, PayloadBody::StateDelete { key: "x".into() });
    match pool.admit(other, &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxDuplicate),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.len(), 1);
}

#[test]
fn ready_respects_nonce_order_gaps_and_fairness() {
    let (a, b, limits) = (
        Keypair::from_seed([1; 32]),
        Keypair::from_seed([2; 32]),
        Limits::default(),
    );
    let chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(100);
    for n in [2, 0, 1, 5] {
        pool.admit(tx(&a, n), &limits, &chain, NOW).unwrap();
    }
    pool.admit(tx(&b, 0), &limits, &chain, NOW).unwrap();
    let ready = pool.ready(10, &chain, u64::MAX);
    let order: Vec<(u8, u64)> = ready
        .iter()
        .map(|t| {
            (
                if t.sender == a.public_hex() {
                    b'a'
                } else {
                    b'b'
                },
                t.nonce,
            )
        })
        .collect();
    // a's 0,1,2 (5 waits for the gap), b's 0 interleaved after a's first.
    assert_eq!(order.len(), 4);
    assert!(order.contains(&(b'b', 0)) && !order.contains(&(b'a', 5)));
    let a_nonces: Vec<u64> = order
        .iter()
        .filter(|(s, _)| *s == b'a')
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(a_nonces, [0, 1, 2]);
    assert_eq!(pool.ready(2, &chain, u64::MAX).len(), 2);
}

#[test]
fn committed_and_stale_transactions_leave() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let mut chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(100);
    for n in 0..4 {
        pool.admit(tx(&a, n), &limits, &chain, NOW).unwrap();
    }
    let committed = vec![tx(&a, 0), tx(&a, 1)];
    chain.insert(a.public_hex().to_string(), 3); // nonce 2 was committed elsewhere too
    pool.remove_committed(&committed, &chain);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.ready(10, &chain, u64::MAX)[0].nonce, 3);
}

/// A committed block can hold a *different* transaction with a pending one's (sender, nonce)
/// (a competing transaction, or a restarted node's nonce filler): the pending one is gone for
/// good and must leave entirely — not stay counted, nor be reported as still pending to a
/// client waiting on it.
#[test]
fn a_pending_transaction_that_lost_its_nonce_leaves_entirely() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let mut chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(100);
    let pending = tx(&a, 0);
    pool.admit(pending.clone(), &limits, &chain, NOW).unwrap();
    let competitor = Transaction::new_signed(&a, 0, 5, PayloadBody::state_set("x", "2").unwrap());
    assert_ne!(competitor.hash, pending.hash);
    chain.insert(a.public_hex().to_string(), 1);
    pool.remove_committed(&[competitor], &chain);
    assert_eq!(pool.len(), 0);
    assert!(pool.is_empty());
    assert!(!pool.contains(&pending.hash));
    assert_eq!(pool.transactions().count(), 0);
}

#[test]
fn capacity_is_enforced() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(2);
    pool.admit(tx(&a, 0), &limits, &chain, NOW).unwrap();
    pool.admit(tx(&a, 1), &limits, &chain, NOW).unwrap();
    assert_eq!(
        pool.admit(tx(&a, 2), &limits, &chain, NOW),
        Err(AdmitError::Full(2))
    );
}

fn stamped(key: &Keypair, nonce: u64, timestamp: u64) -> Transaction {
    let body = PayloadBody::state_set(format!("k{nonce}"), "1").unwrap();
    Transaction::new_signed(key, nonce, timestamp, body)
}

/// A node whose clock jumped ahead signs transactions no block may hold yet. Were a leader to
/// put one in a block, every follower would refuse the block (found by the nemesis: 43
/// elections in a row after one node's clock jumped 508 s).
#[test]
fn transactions_stamped_too_far_ahead_are_refused_never_handed_out_and_evicted() {
    let (a, b, limits) = (
        Keypair::from_seed([1; 32]),
        Keypair::from_seed([2; 32]),
        Limits::default(),
    );
    let chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(10);
    let ahead = NOW + limits.max_future_ms + 1;
    match pool.admit(stamped(&a, 0, ahead), &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxTimestamp, "{e}"),
        other => panic!("admitted a transaction from the future: {other:?}"),
    }

    // Admitted by a node whose clock was ahead, then that clock stepped back.
    let later = NOW + 60_000;
    pool.admit(stamped(&a, 0, NOW), &limits, &chain, later)
        .unwrap();
    pool.admit(stamped(&a, 1, later), &limits, &chain, later)
        .unwrap();
    pool.admit(stamped(&a, 2, NOW), &limits, &chain, later)
        .unwrap();
    pool.admit(stamped(&b, 0, NOW), &limits, &chain, later)
        .unwrap();
    let latest = NOW + limits.max_future_ms;
    let ready: Vec<(u64, u64)> = pool
        .ready(10, &chain, latest)
        .iter()
        .map(|t| (t.nonce, t.timestamp))
        .collect();
    assert_eq!(
        ready,
        vec![(0, NOW), (0, NOW)],
        "a's run stops before nonce 1"
    );

    let dropped: Vec<u64> = pool.evict_early(latest).iter().map(|t| t.nonce).collect();
    assert_eq!(
        dropped,
        vec![1, 2],
        "the early one and what queues behind it"
    );
    assert_eq!(pool.len(), 2);
    assert!(pool.evict_early(latest).is_empty());
}
