//! The block pipeline (`pipeline`): what of a run is committed, and that a run gets the same
//! verdict whichever road it takes (a BlockSync run, or Raft entries checked one by one as they
//! are appended and then committed).

use miniledger_core::pipeline::{
    self, build, check_entry, check_verified, BlockError, ChainReads, Governance, Known,
    MemoryChain, Pending, Rules, StateRootRule, SuffixLayers, Verdict,
};
use miniledger_core::state::StateView;
use miniledger_core::validation::{Limits, NonceView, ReplayRule, Rule, ValidatorSet};
use miniledger_core::{Block, Chain, Keypair, PayloadBody, Transaction};

/// The validating node's clock.
const NOW: u64 = 1_000_000;

fn proposer() -> Keypair {
    Keypair::from_seed([9; 32])
}

fn alice() -> Keypair {
    Keypair::from_seed([1; 32])
}

fn rules(state_root: StateRootRule) -> Rules {
    Rules {
        validators: ValidatorSet::new([proposer().public_hex()]),
        limits: Limits::default(),
        state_root,
        governance: match state_root {
            StateRootRule::Tree => Governance::OnChain,
            _ => Governance::Recorded,
        },
    }
}

fn set(sender: &Keypair, nonce: u64, key: &str, value_json: &str) -> Transaction {
    let body = PayloadBody::state_set(key, value_json).unwrap();
    Transaction::new_signed(sender, nonce, 1_000 + nonce, body)
}

/// Consecutive blocks on `chain`'s tip, one per batch, built by the producer's path.
fn produce(chain: &MemoryChain, rules: &Rules, batches: Vec<Vec<Transaction>>) -> Vec<Block> {
    let mut pending = Pending::new(chain, rules);
    let mut parent = chain.tip();
    let mut blocks = Vec::new();
    for txs in batches {
        let timestamp = 2_000 + parent.height;
        let (block, prepared) = build(&pending, &parent, timestamp, txs, &proposer()).unwrap();
        pending.push(&block, prepared);
        parent = block.header();
        blocks.push(block);
    }
    blocks
}

/// Alice writes k = 1, 2, 3, 4, 5, one block each.
fn honest_run(chain: &MemoryChain, rules: &Rules) -> Vec<Block> {
    let batches = (0..5)
        .map(|n| vec![set(&alice(), n, "k", &(n + 1).to_string())])
        .collect();
    produce(chain, rules, batches)
}

/// Rehashes and re-signs a block whose header was changed (a forger holding the key).
fn resign(mut block: Block) -> Block {
    block.seal(&proposer());
    block
}

/// The ways a block in the middle of a run (the third, height 3) can be bad.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Signature,
    Replay,
    StateRoot,
}

fn with_fault(run: &[Block], fault: Fault) -> Vec<Block> {
    let mut run = run.to_vec();
    let bad = &mut run[2];
    match fault {
        Fault::Signature => {
            let mut sig = bad.signature.clone().into_bytes();
            sig[10] = if sig[10] == b'0' { b'1' } else { b'0' };
            bad.signature = String::from_utf8(sig).unwrap();
        }
        Fault::Replay => {
            let parent = run[1].header();
            let txs = vec![set(&alice(), 0, "k", "99")];
            run[2] = Block::build(&parent, 2_002, txs, run[2].state_root.clone(), &proposer());
        }
        Fault::StateRoot => {
            bad.state_root = "ab".repeat(32);
            run[2] = resign(run[2].clone());
        }
    }
    run
}

fn expected_rule(fault: Fault) -> Rule {
    match fault {
        Fault::Signature => Rule::BlockSignature,
        Fault::Replay => Rule::TxReplay,
        Fault::StateRoot => Rule::BlockStateRoot,
    }
}

/// A BlockSync run: stateless rules for the whole run, then the state step.
fn via_sync(chain: &MemoryChain, rules: &Rules, run: &[Block]) -> Verdict {
    pipeline::check(chain, rules, run, NOW)
}

/// Raft: each entry checked as it is appended (on the entries before it), then the appended
/// entries committed with the effects kept from those checks. Returns the commit's verdict
/// and the refusal of the entry that was not appended.
fn via_raft(chain: &MemoryChain, rules: &Rules, run: &[Block]) -> (Verdict, Option<BlockError>) {
    let mut known = Known::new();
    let mut layers = SuffixLayers::new();
    let mut appended: Vec<&Block> = Vec::new();
    let mut refused = None;
    for block in run {
        match check_entry(chain, rules, &mut known, &mut layers, &appended, block, NOW) {
            Ok(()) => appended.push(block),
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let verdict = check_verified(chain, rules, &appended, None, Some(&mut known));
    (verdict, refused)
}

fn committed(chain: &MemoryChain, run: &[Block], verdict: Verdict) -> MemoryChain {
    let mut chain = chain.clone();
    let blocks: Vec<&Block> = run.iter().collect();
    chain.commit(&blocks, verdict);
    chain
}

#[test]
fn a_run_with_a_bad_block_in_the_middle_commits_exactly_the_valid_prefix() {
    let rules = rules(StateRootRule::Tree);
    let genesis = MemoryChain::new(true);
    let honest = honest_run(&genesis, &rules);
    for fault in [Fault::Signature, Fault::Replay, Fault::StateRoot] {
        let run = with_fault(&honest, fault);
        let verdict = via_sync(&genesis, &rules, &run);
        assert_eq!(verdict.accepted.len(), 2, "{fault:?}");
        let refused = verdict.refused.clone().expect("the third block is refused");
        assert_eq!(refused.height(), 3, "{fault:?}: {refused}");
        assert_eq!(
            refused.rule(),
            Some(expected_rule(fault)),
            "{fault:?}: {refused}"
        );

        let chain = committed(&genesis, &run, verdict);
        assert_eq!(chain.tip(), honest[1].header(), "{fault:?}");
        let k = chain.get("k").expect("k written by the prefix");
        assert_eq!((k.value.as_str(), k.version), ("2", 2), "{fault:?}");
        assert_eq!(chain.next_nonce(alice().public_hex()), 2, "{fault:?}");
        assert_eq!(chain.tree_root(), honest[1].state_root, "{fault:?}");

        // The rest of the honest chain follows on the committed prefix.
        let verdict = via_sync(&chain, &rules, &honest[2..]);
        assert!(
            verdict.refused.is_none(),
            "{fault:?}: {:?}",
            verdict.refused
        );
        let chain = committed(&chain, &honest[2..], verdict);
        assert_eq!(chain.tip(), honest[4].header());
        assert_eq!(chain.tree_root(), honest[4].state_root);
    }
}

#[test]
fn a_state_root_mismatch_is_refused_and_nothing_of_the_block_is_taken() {
    let rules = rules(StateRootRule::Tree);
    let genesis = MemoryChain::new(true);
    let honest = honest_run(&genesis, &rules);
    let mut forged = honest[0].clone();
    forged.state_root = "00".repeat(31) + "01";
    let forged = resign(forged);
    let verdict = via_sync(&genesis, &rules, std::slice::from_ref(&forged));
    assert!(verdict.accepted.is_empty());
    let refused = verdict.refused.clone().unwrap();
    assert_eq!(refused.rule(), Some(Rule::BlockStateRoot), "{refused}");
    assert!(
        refused.to_string().contains(&honest[0].state_root),
        "{refused}"
    );
    let chain = committed(&genesis, std::slice::from_ref(&forged), verdict);
    assert_eq!(chain.tip(), genesis.tip());
    assert_eq!(chain.get("k"), None);
    assert_eq!(chain.tree_version(), None, "no tree change was taken");
}

#[test]
fn sync_and_raft_reach_the_same_verdict_on_the_same_run() {
    for rule in [StateRootRule::Tree, StateRootRule::MiniLedgerBefore] {
        let rules = rules(rule);
        let genesis = MemoryChain::new(true);
        // Some history first, so the run builds on committed state and tree.
        let history = honest_run(&genesis, &rules);
        let base = committed(&genesis, &history, via_sync(&genesis, &rules, &history));
        let batches = (5..10)
            .map(|n| {
                vec![
                    set(&alice(), n, "k", &n.to_string()),
                    set(&proposer(), n - 5, &format!("p{n}"), "true"),
                ]
            })
            .collect();
        let honest = produce(&base, &rules, batches);
        let runs = std::iter::once((None, honest.clone())).chain(
            [Fault::Signature, Fault::Replay, Fault::StateRoot]
                .into_iter()
                .filter(|f| rule == StateRootRule::Tree || !matches!(f, Fault::StateRoot))
                .map(|f| (Some(f), with_fault(&honest, f))),
        );
        for (fault, run) in runs {
            let sync = via_sync(&base, &rules, &run);
            let (raft, raft_refused) = via_raft(&base, &rules, &run);
            let what = format!("{rule:?} {fault:?}");
            assert_eq!(sync.accepted, raft.accepted, "{what}");
            assert_eq!(sync.refused, raft_refused, "{what}");
            assert!(raft.refused.is_none(), "{what}: appended entries commit");
            assert_eq!(
                sync.accepted.len(),
                if fault.is_some() { 2 } else { 5 },
                "{what}"
            );
            let (a, b) = (committed(&base, &run, sync), committed(&base, &run, raft));
            assert_eq!(a.tip(), b.tip(), "{what}");
            assert_eq!(a.state(), b.state(), "{what}");
            assert_eq!(a.tree_root(), b.tree_root(), "{what}");
            assert_eq!(a.tree_version(), b.tree_version(), "{what}");
        }
    }
}

#[test]
fn a_produced_block_carries_the_root_the_pipeline_computes_for_it() {
    let rules = rules(StateRootRule::Tree);
    let genesis = MemoryChain::new(true);
    let run = honest_run(&genesis, &rules);
    // What the producer built (executed as a draft, then signed) is what the rules accept,
    // roots included, and signed by the producer over the final header.
    let verdict = via_sync(&genesis, &rules, &run);
    assert!(verdict.refused.is_none(), "{:?}", verdict.refused);
    assert!(run.iter().all(|b| b.state_root != "00".repeat(32)));
    assert_eq!(
        committed(&genesis, &run, verdict).tree_root(),
        run[4].state_root
    );
}

#[test]
fn the_tx_hash_replay_rule_sees_the_pending_blocks_of_the_run() {
    let mut rules = rules(StateRootRule::Unchecked);
    rules.limits.replay = ReplayRule::TxHash;
    let genesis = MemoryChain::new(true);
    let tx = set(&alice(), 0, "k", "1");
    let first = produce(&genesis, &rules, vec![vec![tx.clone()]]);
    // The same transaction again in the next block of the same run.
    let second = Block::build(
        &first[0].header(),
        2_001,
        vec![tx],
        "00".repeat(32),
        &proposer(),
    );
    let run = vec![first[0].clone(), second];
    let verdict = via_sync(&genesis, &rules, &run);
    assert_eq!(verdict.accepted.len(), 1);
    assert_eq!(verdict.refused.unwrap().rule(), Some(Rule::TxReplay));
}

/// The reference chain and the node agree on MiniLedger 0.2's roots: checked while our state
/// reproduces theirs, taken unchecked after a transaction whose effects 0.2 derives from its
/// clock and `Math.random()` (a contract deploy). The in-memory chain used to keep checking
/// them, refusing a 0.2 chain the node accepts.
#[test]
fn miniledger_roots_are_taken_unchecked_after_a_block_0_2_cannot_reproduce_on_every_road() {
    let validators = ValidatorSet::new([proposer().public_hex()]);
    let mut chain = Chain::new(
        validators,
        Limits::default(),
        StateRootRule::MiniLedgerBefore,
    );
    let deploy = PayloadBody::ContractDeploy {
        name: "c".into(),
        version: "1".into(),
        code: "x".into(),
    };
    let tx = Transaction::new_signed(&alice(), 0, 1_000, deploy);
    let zero = "00".repeat(32);
    let first = Block::build(chain.tip(), 2_000, vec![tx], zero.clone(), &proposer());
    chain
        .apply(&first, NOW)
        .expect("the state before block 1 is empty");
    // 0.2's root after its contract ran: not ours to reproduce.
    let theirs = "cd".repeat(32);
    let second = Block::build(chain.tip(), 2_001, vec![], theirs, &proposer());
    chain
        .apply(&second, NOW)
        .expect("taken unchecked, as the node does");

    // Before any such block, a wrong 0.2 root is refused.
    let validators = ValidatorSet::new([proposer().public_hex()]);
    let mut fresh = Chain::new(
        validators,
        Limits::default(),
        StateRootRule::MiniLedgerBefore,
    );
    let wrong = Block::build(fresh.tip(), 2_000, vec![], "cd".repeat(32), &proposer());
    let error = fresh.apply(&wrong, NOW).unwrap_err();
    assert_eq!(error.rule, Rule::BlockStateRoot);
}

#[cfg(feature = "contracts")]
fn contract_tx(sender: &Keypair, nonce: u64, body: PayloadBody) -> Transaction {
    Transaction::new_signed(sender, nonce, 1_000 + nonce, body)
}

#[cfg(feature = "contracts")]
fn invoke(contract: &str, method: &str, args: &str) -> PayloadBody {
    PayloadBody::ContractInvoke {
        contract: contract.into(),
        method: method.into(),
        args: serde_json::value::RawValue::from_string(args.into()).unwrap(),
    }
}

/// Contract calls run in the pipeline on every road: the producer's root covers their writes
/// and receipts (a failed call: its receipt only), a validator recomputes it, and a block
/// whose root leaves the execution out is refused.
#[cfg(feature = "contracts")]
#[test]
fn contract_calls_are_executed_and_their_receipts_committed_by_the_state_root() {
    let rules = rules(StateRootRule::Tree);
    let genesis = MemoryChain::new(true);
    let token = include_str!("../../examples/contracts/token.js");
    let txs = vec![
        contract_tx(
            &alice(),
            0,
            PayloadBody::ContractDeploy {
                name: "token".into(),
                version: "1".into(),
                code: token.into(),
            },
        ),
        contract_tx(&alice(), 1, invoke("token", "mint", "[100]")),
        contract_tx(&alice(), 2, invoke("token", "transfer", r#"["bob", 500]"#)),
    ];
    let hashes: Vec<String> = txs.iter().map(|t| t.hash.clone()).collect();
    let run = produce(&genesis, &rules, vec![txs]);
    let verdict = via_sync(&genesis, &rules, &run);
    assert!(verdict.refused.is_none(), "{:?}", verdict.refused);
    let chain = committed(&genesis, &run, verdict);
    assert_eq!(chain.tree_root(), run[0].state_root);
    let state = chain.state();
    let me = alice().public_hex().to_string();
    assert_eq!(state.get(&format!("balance:{me}")).unwrap().value, "100");
    assert!(
        state.get("balance:bob").is_none(),
        "the failed transfer wrote nothing"
    );
    let receipt = |h: &str| state.get(&format!("_receipt:{h}")).unwrap().value;
    assert!(receipt(&hashes[0]).contains(r#""status":"success""#));
    assert!(receipt(&hashes[1]).contains(r#""status":"success""#));
    assert!(
        receipt(&hashes[2]).contains(r#""error":"contract.exception: insufficient balance""#),
        "{}",
        receipt(&hashes[2])
    );

    // The same block with another root (as a node skipping the contracts would compute one)
    // is refused.
    let plain = produce(&genesis, &rules, vec![vec![set(&alice(), 0, "k", "1")]]);
    let mut forged = run[0].clone();
    forged.state_root.clone_from(&plain[0].state_root);
    let verdict = via_sync(&genesis, &rules, &[resign(forged)]);
    assert_eq!(verdict.refused.unwrap().rule(), Some(Rule::BlockStateRoot));
}

#[test]
fn state_writes_to_execution_keys_are_refused_on_our_networks_only() {
    use miniledger_core::validation::validate_transaction;
    for key in ["_receipt:ab", "_contract:token", "_contract_code:token"] {
        let tx = set(&alice(), 0, key, "1");
        let err = validate_transaction(&tx, &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::TxReservedKey, "{key}");
        let compat = Limits {
            reserved_keys: false,
            ..Limits::default()
        };
        assert!(validate_transaction(&tx, &compat).is_ok(), "{key}");
    }
    assert!(validate_transaction(&set(&alice(), 0, "_contracts", "1"), &Limits::default()).is_ok());
}

/// A follower's log: entries checked as appended, the commit trailing the last entry by `lag`
/// (as a leader's commit index does), the layered state kept across checks and commits.
struct Follower<'r> {
    rules: &'r Rules,
    chain: MemoryChain,
    known: Known,
    layers: SuffixLayers,
    log: Vec<Block>,
}

impl<'r> Follower<'r> {
    fn new(chain: &MemoryChain, rules: &'r Rules) -> Self {
        Follower {
            rules,
            chain: chain.clone(),
            known: Known::new(),
            layers: SuffixLayers::new(),
            log: Vec::new(),
        }
    }

    /// Checks `block` on the log's entries from `at` (entries from there are replaced, as a
    /// conflicting AppendEntries truncates them) and appends it if accepted.
    fn append_at(&mut self, at: usize, block: &Block) -> Result<(), BlockError> {
        self.log.truncate(at);
        let before: Vec<&Block> = self.log.iter().collect();
        let (chain, rules) = (&self.chain, self.rules);
        check_entry(
            chain,
            rules,
            &mut self.known,
            &mut self.layers,
            &before,
            block,
            NOW,
        )?;
        self.log.push(block.clone());
        Ok(())
    }

    fn append(&mut self, block: &Block) -> Result<(), BlockError> {
        self.append_at(self.log.len(), block)
    }

    /// Commits every entry but the last `lag`.
    fn commit(&mut self, lag: usize) {
        let n = self.log.len().saturating_sub(lag);
        let run: Vec<Block> = self.log.drain(..n).collect();
        let blocks: Vec<&Block> = run.iter().collect();
        let known = Some(&mut self.known);
        let verdict = check_verified(&self.chain, self.rules, &blocks, None, known);
        assert!(verdict.refused.is_none(), "{:?}", verdict.refused);
        self.chain.commit(&blocks, verdict);
    }
}

fn hashes(blocks: &[&Block]) -> Vec<String> {
    blocks.iter().map(|b| b.hash.clone()).collect()
}

/// What kept layers built on `chain`'s tip with `blocks` are keyed by.
fn on(chain: &MemoryChain, blocks: &[&Block]) -> Vec<String> {
    let mut keys = vec![chain.tip().hash];
    keys.extend(hashes(blocks));
    keys
}

#[test]
fn layers_kept_across_entries_and_commits_reach_the_state_of_a_fresh_check() {
    for rule in [StateRootRule::Tree, StateRootRule::MiniLedgerBefore] {
        let rules = rules(rule);
        let genesis = MemoryChain::new(true);
        let history = honest_run(&genesis, &rules);
        let base = committed(&genesis, &history, via_sync(&genesis, &rules, &history));
        // 80 blocks: past the point where the kept layers are built afresh (they hold the
        // writes of the committed blocks too).
        let batches = (5..85)
            .map(|n| {
                vec![
                    set(&alice(), n, "k", &n.to_string()),
                    set(&proposer(), n - 5, &format!("p{}", n % 7), &n.to_string()),
                ]
            })
            .collect();
        let run = produce(&base, &rules, batches);
        let mut follower = Follower::new(&base, &rules);
        let mut reused = 0;
        for (i, block) in run.iter().enumerate() {
            let what = format!("{rule:?} entry {i}");
            follower.append(block).expect(&what);
            // The kept layers hold at least the uncommitted log, and more once they outlive
            // a commit (built on an older tip): the case this test is about.
            let chain = follower.layers.chain();
            assert_eq!(chain.last(), Some(&block.hash), "{what}");
            assert!(chain.len() > follower.log.len(), "{what}");
            if chain.len() > follower.log.len() + 1 {
                reused += 1;
            }
            follower.commit(3);
        }
        assert!(
            reused > 40,
            "{rule:?}: the layers were kept across commits ({reused})"
        );
        follower.commit(0);
        let fresh = committed(&base, &run, via_sync(&base, &rules, &run));
        assert_eq!(follower.chain.tip(), fresh.tip(), "{rule:?}");
        assert_eq!(follower.chain.state(), fresh.state(), "{rule:?}");
        assert_eq!(follower.chain.tree_root(), fresh.tree_root(), "{rule:?}");
        assert_eq!(follower.chain.tree_version(), fresh.tree_version());
    }
}

#[test]
fn a_truncated_or_replaced_suffix_never_sees_the_layers_of_the_entries_it_replaced() {
    let rules = rules(StateRootRule::Tree);
    let base = MemoryChain::new(true);
    // b1, b2 from one leader; b2' and b3' on b1 from the next, spending the nonce b2 spent
    // and writing another value: checked on b2's layers, b2' would be a replay with a wrong
    // state root.
    let first = produce(&base, &rules, vec![vec![set(&alice(), 0, "k", "1")]]);
    let b1 = &first[0];
    let b2 = &produce(
        &committed(&base, &first, via_sync(&base, &rules, &first)),
        &rules,
        vec![vec![set(&alice(), 1, "k", "2")]],
    )[0];
    let after_b1 = committed(&base, &first, via_sync(&base, &rules, &first));
    let replaced = produce(
        &after_b1,
        &rules,
        vec![
            vec![set(&alice(), 1, "k", "20")],
            vec![set(&alice(), 2, "j", "30")],
        ],
    );
    let (b2x, b3x) = (&replaced[0], &replaced[1]);
    assert_ne!(b2.hash, b2x.hash);

    let mut follower = Follower::new(&base, &rules);
    follower.append(b1).unwrap();
    follower.append(b2).unwrap();
    assert_eq!(follower.layers.chain(), on(&base, &[b1, b2]));
    // The new leader's entry at height 2 truncates b2.
    follower.append_at(1, b2x).expect("b2' checked on b1 alone");
    assert_eq!(follower.layers.chain(), on(&base, &[b1, b2x]));
    // b2 re-sent on b2' (its hash is known, its parent is not b2'): refused.
    let resent = follower.append(b2).unwrap_err();
    assert_eq!(resent.rule(), Some(Rule::BlockPreviousHash));
    follower.append(b3x).expect("b3' on b1, b2'");
    // A commit of b1 keeps the layers; then the log loses everything above b1 and b2 comes
    // back: it is checked on b1's state, not on b2', b3'.
    follower.commit(2);
    assert_eq!(
        follower.layers.chain()[0],
        base.tip().hash,
        "kept across the commit"
    );
    follower.append_at(0, b2).expect("b2 on the committed b1");
    let again = vec![b2.clone()];
    let after_b2 = committed(&after_b1, &again, via_sync(&after_b1, &rules, &again));
    // Alice's nonce 2 was spent by b3' in the replaced layers.
    let b3 = &produce(&after_b2, &rules, vec![vec![set(&alice(), 2, "j", "40")]])[0];
    follower.append(b3).expect("b3 on b1, b2");
    assert_eq!(
        follower.layers.chain(),
        hashes(&[b1, b2, b3]),
        "built afresh"
    );
    follower.commit(0);
    let last = std::slice::from_ref(b3);
    let expected = committed(&after_b2, last, via_sync(&after_b2, &rules, last));
    assert_eq!(follower.chain.state(), expected.state());
    assert_eq!(follower.chain.tree_root(), expected.tree_root());

    // The store reaching another tip by another road (BlockSync of another block 1): the
    // layers of b1, b2 are not reused for an entry on it.
    let mut follower = Follower::new(&base, &rules);
    follower.append(b1).unwrap();
    follower.append(b2).unwrap();
    let other = produce(&base, &rules, vec![vec![set(&alice(), 0, "k", "7")]]);
    follower.chain = committed(&base, &other, via_sync(&base, &rules, &other));
    follower.log.clear();
    let on_other = produce(
        &follower.chain,
        &rules,
        vec![vec![set(&alice(), 1, "k", "8")]],
    );
    follower
        .append(&on_other[0])
        .expect("on the synced tip's state");
    assert_eq!(follower.layers.chain(), hashes(&[&other[0], &on_other[0]]));
}
