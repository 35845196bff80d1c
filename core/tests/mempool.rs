//! Mempool admission, ordering and cleanup.

use miniledger_core::mempool::{AdmitError, Mempool};
use miniledger_core::validation::{check_transaction, check_transactions, CheckedTx, Limits, Rule};
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

/// Admission's stateless part, as the node's driver runs it before `Mempool::admit`.
fn checked(tx: Transaction) -> CheckedTx {
    check_transaction(tx, &Limits::default()).expect("a well-formed transaction")
}

#[test]
fn admits_once_and_refuses_replays_and_forgeries() {
    let (a, limits) = (Keypair::from_seed([1; 32]), Limits::default());
    let mut chain: HashMap<String, u64> = HashMap::new();
    chain.insert(a.public_hex().to_string(), 2);
    let mut pool = Mempool::new(10);
    pool.admit(checked(tx(&a, 2)), &limits, &chain, NOW)
        .unwrap();
    assert_eq!(
        pool.admit(checked(tx(&a, 2)), &limits, &chain, NOW),
        Err(AdmitError::Duplicate)
    );
    match pool.admit(checked(tx(&a, 1)), &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxReplay),
        other => panic!("{other:?}"),
    }
    let mut forged = tx(&a, 3);
    forged.signature = Keypair::from_seed([9; 32]).sign(&forged.hash);
    match check_transaction(forged, &limits) {
        Err(e) => assert_eq!(e.rule, Rule::TxSignature),
        other => panic!("{other:?}"),
    }
    // A different tx reusing a pending nonce is refused.
    let other = Transaction::new_signed(&a, 2, 5, PayloadBody::StateDelete { key: "x".into() });
    match pool.admit(checked(other), &limits, &chain, NOW) {
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
        pool.admit(checked(tx(&a, n)), &limits, &chain, NOW)
            .unwrap();
    }
    pool.admit(checked(tx(&b, 0)), &limits, &chain, NOW)
        .unwrap();
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
        pool.admit(checked(tx(&a, n)), &limits, &chain, NOW)
            .unwrap();
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
    pool.admit(checked(pending.clone()), &limits, &chain, NOW)
        .unwrap();
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
    pool.admit(checked(tx(&a, 0)), &limits, &chain, NOW)
        .unwrap();
    pool.admit(checked(tx(&a, 1)), &limits, &chain, NOW)
        .unwrap();
    assert_eq!(
        pool.admit(checked(tx(&a, 2)), &limits, &chain, NOW),
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
    match pool.admit(checked(stamped(&a, 0, ahead)), &limits, &chain, NOW) {
        Err(AdmitError::Invalid(e)) => assert_eq!(e.rule, Rule::TxTimestamp, "{e}"),
        other => panic!("admitted a transaction from the future: {other:?}"),
    }

    // Admitted by a node whose clock was ahead, then that clock stepped back.
    let later = NOW + 60_000;
    pool.admit(checked(stamped(&a, 0, NOW)), &limits, &chain, later)
        .unwrap();
    pool.admit(checked(stamped(&a, 1, later)), &limits, &chain, later)
        .unwrap();
    pool.admit(checked(stamped(&a, 2, NOW)), &limits, &chain, later)
        .unwrap();
    pool.admit(checked(stamped(&b, 0, NOW)), &limits, &chain, later)
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

/// The batched check answers each transaction as the single check does, whatever else is in
/// the batch: a forged signature, a bad hash and a signature that is not even a point fail
/// alone, by their own rule; the others pass.
#[test]
fn a_batch_check_answers_each_transaction_as_the_single_check_does() {
    let limits = Limits::default();
    let keys: Vec<Keypair> = (1..=6).map(|i| Keypair::from_seed([i; 32])).collect();
    let mut txs: Vec<Transaction> = keys.iter().map(|k| tx(k, 0)).collect();
    txs.push(tx(&keys[0], 1)); // a second transaction by the same key
    txs[1].signature = keys[2].sign(&txs[1].hash); // signed by someone else
    txs[3].hash = txs[2].hash.clone(); // the hash of another transaction
    txs[4].signature = "ff".repeat(64); // S not reduced
    let single: Vec<Result<CheckedTx, Rule>> = (txs.iter())
        .map(|t| check_transaction(t.clone(), &limits).map_err(|e| e.rule))
        .collect();
    let batched: Vec<Result<CheckedTx, Rule>> = check_transactions(txs.clone(), &limits)
        .into_iter()
        .map(|r| r.map_err(|e| e.rule))
        .collect();
    assert_eq!(batched, single);
    let rules: Vec<Option<Rule>> = batched.iter().map(|r| r.as_ref().err().copied()).collect();
    assert_eq!(
        rules,
        [
            None,
            Some(Rule::TxSignature),
            None,
            Some(Rule::TxHash),
            Some(Rule::TxSignature),
            None,
            None
        ]
    );
    // All good: one batch, every one passes.
    let good: Vec<Transaction> = keys.iter().map(|k| tx(k, 5)).collect();
    assert!(check_transactions(good, &limits).iter().all(Result::is_ok));
}
