//! Mempool admission, ordering and cleanup.

use miniledger_core::mempool::{AdmitError, Mempool};
use miniledger_core::validation::{Limits, Rule};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use std::collections::HashMap;

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
    pool.admit(tx(&a, 2), &limits, &chain).unwrap();
    assert_eq!(
        pool.admit(tx(&a, 2), &limits, &chain),
        Err(AdmitError::Duplicate)
    );
    match pool.admit(tx(&a, 1), &limits, &chain) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxReplay),
        other => panic!("{other:?}"),
    }
    let mut forged = tx(&a, 3);
    forged.signature = Keypair::from_seed([9; 32]).sign(&forged.hash);
    match pool.admit(forged, &limits, &chain) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxSignature),
        other => panic!("{other:?}"),
    }
    // A different tx reusing a pending nonce is refused.
    let other = Transaction::new_signed(&a, 2, 5, PayloadBody::StateDelete { key: "x".into() });
    match pool.admit(other, &limits, &chain) {
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
        pool.admit(tx(&a, n), &limits, &chain).unwrap();
    }
    pool.admit(tx(&b, 0), &limits, &chain).unwrap();
    let ready = pool.ready(10, &chain);
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
    assert_eq!(pool.ready(2, &chain).len(), 2);
}

#[test]
fn committed_and_stale_transactions_leave() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let mut chain: HashMap<String, u64> = HashMap::new();
    let mut pool = Mempool::new(100);
    for n in 0..4 {
        pool.admit(tx(&a, n), &limits, &chain).unwrap();
    }
    let committed = vec![tx(&a, 0), tx(&a, 1)];
    chain.insert(a.public_hex().to_string(), 3); // nonce 2 was committed elsewhere too
    pool.remove_committed(&committed, &chain);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.ready(10, &chain)[0].nonce, 3);
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
    pool.admit(pending.clone(), &limits, &chain).unwrap();
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
    pool.admit(tx(&a, 0), &limits, &chain).unwrap();
    pool.admit(tx(&a, 1), &limits, &chain).unwrap();
    assert_eq!(
        pool.admit(tx(&a, 2), &limits, &chain),
        Err(AdmitError::Full(2))
    );
}
