//! `state::proof_check` (the browser's state-proof check, without jmt's `verify`) agrees with
//! jmt's `verify` on real proofs: present keys, absent keys (empty subtree and another leaf's
//! subtree), wrong values and versions, other keys, and every single-byte corruption of a proof.

use miniledger_core::state::commitment::{encode_proof, prove, verify, MemoryTree};
use miniledger_core::state::proof_check::verify_hex;
use miniledger_core::state::{StateDelta, StateEntry};

fn entry(value: &str, version: u64) -> StateEntry {
    StateEntry {
        value: value.into(),
        version,
    }
}

fn tree_with(n: usize) -> MemoryTree {
    let mut tree = MemoryTree::default();
    let delta: StateDelta = (0..n)
        .map(|i| {
            (
                format!("key-{i}"),
                Some(entry(&i.to_string(), 1 + i as u64 % 3)),
            )
        })
        .collect();
    tree.apply(&delta).unwrap();
    tree
}

/// Both checks on one case; they must agree, and the answer is returned.
fn both(root: &str, key: &str, claimed: Option<&StateEntry>, proof_hex: &str) -> bool {
    let proof = miniledger_core::state::commitment::decode_proof(proof_hex);
    let jmt_ok = proof.is_ok_and(|p| verify(root, key, claimed, &p).is_ok());
    let lean_ok = verify_hex(root, key, claimed, proof_hex).is_ok();
    assert_eq!(jmt_ok, lean_ok, "disagree on {key} {claimed:?} {proof_hex}");
    lean_ok
}

#[test]
fn agrees_with_jmt_on_present_and_absent_keys() {
    for size in [0, 1, 2, 17, 300] {
        let tree = tree_with(size);
        let root = tree.root().unwrap();
        for i in 0..size.min(40) {
            let key = format!("key-{i}");
            let right = entry(&i.to_string(), 1 + i as u64 % 3);
            let proof = prove(&tree, tree.version(), &key, Some(&right)).unwrap();
            let hex = encode_proof(&proof);
            assert!(both(&root, &key, Some(&right), &hex), "{key} proven");
            assert!(!both(
                &root,
                &key,
                Some(&entry("\"other\"", right.version)),
                &hex
            ));
            assert!(!both(
                &root,
                &key,
                Some(&entry(&right.value, right.version + 1)),
                &hex
            ));
            assert!(!both(&root, &key, None, &hex), "present key claimed absent");
            assert!(!both(&root, "key-elsewhere", Some(&right), &hex));
        }
        for i in 0..20 {
            let key = format!("absent-{i}");
            let proof = prove(&tree, tree.version(), &key, None).unwrap();
            let hex = encode_proof(&proof);
            assert!(both(&root, &key, None, &hex), "{key} proven absent");
            assert!(!both(&root, &key, Some(&entry("1", 1)), &hex));
        }
    }
}

#[test]
fn agrees_with_jmt_on_every_corrupted_byte() {
    let tree = tree_with(50);
    let root = tree.root().unwrap();
    for (key, claimed) in [("key-7", Some(entry("7", 2))), ("absent-3", None)] {
        let proof = prove(&tree, tree.version(), key, claimed.as_ref()).unwrap();
        let hex = encode_proof(&proof);
        assert!(both(&root, key, claimed.as_ref(), &hex));
        let bytes = miniledger_core::hex::decode_vec(&hex).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            both(
                &root,
                key,
                claimed.as_ref(),
                &miniledger_core::hex::encode(&bad),
            );
        }
        // Truncated and extended proofs.
        both(&root, key, claimed.as_ref(), &hex[..hex.len() - 2]);
        both(&root, key, claimed.as_ref(), &format!("{hex}00"));
    }
}
