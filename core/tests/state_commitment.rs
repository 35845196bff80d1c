//! Our stateRoot (a Jellyfish Merkle Tree over world state): deterministic, history
//! independent, incremental, provable, and bounded in size by the state, not the chain.

use miniledger_core::hash::ZERO_HASH;
use miniledger_core::state::commitment::{
    decode_proof, encode_proof, prove, verify, MemoryTree, StateProof,
};
use miniledger_core::state::{StateDelta, StateEntry};

fn set(key: &str, value: &str, version: u64) -> (String, Option<StateEntry>) {
    (
        key.to_string(),
        Some(StateEntry {
            value: value.to_string(),
            version,
        }),
    )
}

fn del(key: &str) -> (String, Option<StateEntry>) {
    (key.to_string(), None)
}

fn delta<const N: usize>(writes: [(String, Option<StateEntry>); N]) -> StateDelta {
    StateDelta::from(writes)
}

fn entry(value: &str, version: u64) -> StateEntry {
    StateEntry {
        value: value.into(),
        version,
    }
}

fn proof_of(tree: &MemoryTree, key: &str, entry: Option<&StateEntry>) -> StateProof {
    prove(tree, tree.version(), key, entry).expect("proof")
}

#[test]
fn empty_state_has_the_zero_root_and_proves_absence() {
    let tree = MemoryTree::default();
    assert_eq!(tree.root().unwrap(), ZERO_HASH);
    let proof = proof_of(&tree, "anything", None);
    assert!(prove(&tree, tree.version(), "anything", Some(&entry("1", 1))).is_err());
    verify(ZERO_HASH, "anything", None, &proof).expect("absent from the empty state");
    assert!(verify(ZERO_HASH, "anything", Some(&entry("1", 1)), &proof).is_err());
}

#[test]
fn the_root_is_pinned_for_a_known_state() {
    // Light nodes in other languages must derive the same root: pin the leaf encoding
    // (sha256(key) -> canonical {"value","version"}) through one fixed state.
    let mut tree = MemoryTree::default();
    let root = tree
        .apply(&delta([
            set("counter", "1", 1),
            set("greeting", r#""hello""#, 3),
        ]))
        .unwrap()
        .0;
    assert_eq!(
        root, "e3bd1e3a323c14af1865c70298f5ef71022391cb010ef18a13e8784faa4d60fe",
        "changing this breaks every stored chain"
    );
}

#[test]
fn the_root_depends_on_the_state_not_on_its_history() {
    let mut one_block = MemoryTree::default();
    let a = one_block
        .apply(&delta([
            set("a", "1", 1),
            set("b", "2", 1),
            set("c", "3", 1),
        ]))
        .unwrap()
        .0;

    let mut three_blocks = MemoryTree::default();
    three_blocks.apply(&delta([set("c", "3", 1)])).unwrap();
    three_blocks
        .apply(&delta([set("a", "1", 1), set("x", "9", 1)]))
        .unwrap();
    let b = three_blocks
        .apply(&delta([set("b", "2", 1), del("x")]))
        .unwrap()
        .0;
    assert_eq!(a, b);
    assert_ne!(a, ZERO_HASH);

    // Any difference in value or version changes the root.
    let mut other = MemoryTree::default();
    let c = other
        .apply(&delta([
            set("a", "1", 2),
            set("b", "2", 1),
            set("c", "3", 1),
        ]))
        .unwrap()
        .0;
    assert_ne!(a, c);
}

#[test]
fn proofs_bind_value_and_version_and_survive_the_wire() {
    let mut tree = MemoryTree::default();
    tree.apply(&delta([set("k1", r#"{"n":1}"#, 1), set("k2", "true", 4)]))
        .unwrap();
    let root = tree.root().unwrap();

    let proof = proof_of(&tree, "k2", Some(&entry("true", 4)));
    // The tree keeps no values: the caller's entry must be the one the leaf commits to.
    for wrong in [Some(entry("true", 5)), Some(entry("false", 4)), None] {
        assert!(
            prove(&tree, tree.version(), "k2", wrong.as_ref()).is_err(),
            "{wrong:?}"
        );
    }
    assert!(prove(&tree, tree.version(), "missing", Some(&entry("1", 1))).is_err());
    let proof = decode_proof(&encode_proof(&proof)).expect("round trip");
    verify(&root, "k2", Some(&entry("true", 4)), &proof).expect("inclusion");
    assert!(
        verify(&root, "k2", Some(&entry("true", 5)), &proof).is_err(),
        "version"
    );
    assert!(
        verify(&root, "k2", Some(&entry("false", 4)), &proof).is_err(),
        "value"
    );
    assert!(verify(&root, "k2", None, &proof).is_err(), "claimed absent");
    assert!(
        verify(&root, "k1", Some(&entry("true", 4)), &proof).is_err(),
        "other key"
    );

    let proof = proof_of(&tree, "missing", None);
    verify(&root, "missing", None, &proof).expect("exclusion");

    // A proof for an older root does not verify against the new one.
    let old_proof = proof_of(&tree, "k1", Some(&entry(r#"{"n":1}"#, 1)));
    tree.apply(&delta([set("k1", r#"{"n":2}"#, 2)])).unwrap();
    assert!(verify(
        &tree.root().unwrap(),
        "k1",
        Some(&entry(r#"{"n":1}"#, 1)),
        &old_proof
    )
    .is_err());

    // Tampered wire bytes are refused or fail verification, never accepted.
    let mut wire = encode_proof(&old_proof).into_bytes();
    let last = wire.len() - 1;
    wire[last] = if wire[last] == b'0' { b'1' } else { b'0' };
    if let Ok(bad) = decode_proof(std::str::from_utf8(&wire).unwrap()) {
        assert!(verify(&root, "k1", Some(&entry(r#"{"n":1}"#, 1)), &bad).is_err());
    }
    assert!(decode_proof("zz").is_err());
}

#[test]
fn deleting_everything_returns_to_the_zero_root_and_the_tree_goes_on() {
    let mut tree = MemoryTree::default();
    tree.apply(&delta([set("a", "1", 1), set("b", "1", 1)]))
        .unwrap();
    let root = tree.apply(&delta([del("a"), del("b")])).unwrap().0;
    assert_eq!(root, ZERO_HASH);
    // Deleting a key that never existed changes nothing.
    assert_eq!(tree.apply(&delta([del("never")])).unwrap().0, ZERO_HASH);
    let again = tree.apply(&delta([set("a", "1", 1)])).unwrap().0;
    let mut fresh = MemoryTree::default();
    assert_eq!(again, fresh.apply(&delta([set("a", "1", 1)])).unwrap().0);
    let proof = proof_of(&tree, "b", None);
    verify(&again, "b", None, &proof).expect("b is gone");
}

#[test]
fn stale_nodes_are_pruned_so_the_tree_is_bounded_by_the_state() {
    let mut tree = MemoryTree::default();
    let keys: Vec<String> = (0..200).map(|i| format!("key-{i}")).collect();
    let mut after_first_round = 0;
    for round in 1..=50u64 {
        let writes: StateDelta = keys
            .iter()
            .map(|k| (k.clone(), Some(entry(&round.to_string(), round))))
            .collect();
        tree.apply(&writes).unwrap();
        if round == 1 {
            after_first_round = tree.pending_node_count();
        }
    }
    assert_eq!(
        tree.pending_node_count(),
        after_first_round,
        "rewriting the same keys 50 times must not grow the tree"
    );
    let proof = proof_of(&tree, "key-7", Some(&entry("50", 50)));
    verify(
        &tree.root().unwrap(),
        "key-7",
        Some(&entry("50", 50)),
        &proof,
    )
    .unwrap();
}

#[test]
fn a_chain_under_the_tree_rule_checks_every_blocks_root() {
    use miniledger_core::validation::{Limits, Rule, ValidatorSet};
    use miniledger_core::{Block, Chain, Keypair, PayloadBody, StateRootRule, Transaction};

    let proposer = Keypair::from_seed([7; 32]);
    let user = Keypair::from_seed([8; 32]);
    let validators = ValidatorSet::new([proposer.public_hex()]);
    let mut chain = Chain::new(validators, Limits::default(), StateRootRule::Tree);
    // The expected roots come from a separate tree fed the same writes.
    let mut shadow = MemoryTree::default();
    for height in 1..=3u64 {
        let tx = Transaction::new_signed(
            &user,
            height - 1,
            1_000 + height,
            PayloadBody::state_set("counter", &height.to_string()).unwrap(),
        );
        let root = shadow
            .apply(&delta([set("counter", &height.to_string(), height)]))
            .unwrap()
            .0;
        let good = Block::build(
            &chain.tip().clone(),
            2_000 + height,
            vec![tx],
            root,
            &proposer,
        );
        let mut forged = good.clone();
        forged.state_root = ZERO_HASH.to_string();
        forged.hash = forged.compute_hash();
        forged.signature = proposer.sign(&forged.hash);
        let err = chain.apply(&forged, 10_000).unwrap_err();
        assert_eq!(err.rule, Rule::BlockStateRoot, "{err}");
        chain.apply(&good, 10_000).expect("the honest block");
        assert_eq!(chain.tree_root(), good.state_root);
    }
}

#[test]
fn batched_updates_build_the_same_tree_as_key_by_key_ones() {
    use miniledger_core::state::commitment::{jmt::Sha256Jmt, key_hash, leaf_value};
    // `apply` inserts a delta without deletions in one jmt batch; check it against jmt's
    // key-by-key insertion over 300 seeded random blocks (inserts, updates, deletions).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (mut batched, mut reference) = (MemoryTree::default(), MemoryTree::default());
    let mut present = std::collections::BTreeMap::new();
    for block in 1..=300u64 {
        let deletes = block % 3 == 0;
        let mut writes = StateDelta::default();
        for _ in 0..1 + next(40) {
            let key = format!("k{}", next(2_000));
            if deletes && next(2) == 0 && present.contains_key(&key) {
                present.remove(&key);
                writes.insert(key, None);
            } else {
                let written = entry(&block.to_string(), block);
                present.insert(key.clone(), written.clone());
                writes.insert(key, Some(written));
            }
        }
        let (root, _) = batched.apply(&writes).unwrap();
        let keyed = writes
            .iter()
            .map(|(k, e)| (key_hash(k), e.as_ref().map(leaf_value)));
        let (_, batch) = Sha256Jmt::new(&reference)
            .put_value_set(keyed, reference.next_version())
            .unwrap();
        reference.push(&batch);
        assert_eq!(root, reference.root().unwrap(), "block {block}");
        assert_eq!(
            batched.pending_node_count(),
            reference.pending_node_count(),
            "block {block}: the same nodes are kept"
        );
    }
    for (key, written) in present.iter().take(50) {
        let proof = proof_of(&batched, key, Some(written));
        let reference_proof = proof_of(&reference, key, Some(written));
        assert_eq!(encode_proof(&proof), encode_proof(&reference_proof));
    }
}
