//! Validator-set history: every block is checked against the set in force at its height, by a
//! full chain (the block pipeline) and by a light verifier that follows governance itself from
//! the genesis set, trusting nobody for the changes.

use miniledger_core::light::LightVerifier;
use miniledger_core::pipeline::{build, Pending, Rules};
use miniledger_core::validation::{Limits, Rule, ValidatorSet};
use miniledger_core::{Block, Chain, Governance, Keypair, PayloadBody, StateRootRule, Transaction};
use serde_json::value::RawValue;

const NOW: u64 = 1_800_000_000_000;

struct Net {
    rules: Rules,
    chain: Chain,
    /// Follows governance from the genesis set.
    light: LightVerifier,
    /// Trusts the genesis set for ever (what a light node did before).
    fixed: LightVerifier,
    nonces: std::collections::HashMap<String, u64>,
}

impl Net {
    fn new(genesis: &Keypair) -> Net {
        let set = ValidatorSet::new([genesis.public_hex().to_string()]);
        let light = |g| LightVerifier::new(set.clone(), g, Limits::default(), 16, 1 << 20, 100);
        Net {
            rules: Rules {
                validators: set.clone(),
                limits: Limits::default(),
                state_root: StateRootRule::Tree,
                governance: Governance::OnChain,
            },
            chain: Chain::new(set.clone(), Limits::default(), StateRootRule::Tree),
            light: light(Governance::OnChain),
            fixed: light(Governance::Recorded),
            nonces: Default::default(),
        }
    }

    fn tx(&mut self, key: &Keypair, body: PayloadBody) -> Transaction {
        let nonce = self.nonces.entry(key.public_hex().to_string()).or_default();
        let tx = Transaction::new_signed(key, *nonce, NOW - 1_000, body);
        *nonce += 1;
        tx
    }

    fn block(&self, proposer: &Keypair, txs: Vec<Transaction>) -> Block {
        let pending = Pending::new(self.chain.store(), &self.rules);
        let tip = self.chain.tip().clone();
        build(&pending, &tip, NOW - 500, txs, proposer).unwrap().0
    }

    /// The chain's and the governed light verifier's verdicts must agree.
    fn offer(&mut self, block: Block) -> Result<(), Rule> {
        let full = self.chain.apply(&block, NOW).map_err(|e| e.rule);
        let light = self.light.check(&block, NOW).map_err(|e| e.rule);
        assert_eq!(
            full,
            light.as_ref().map(drop).map_err(|r| *r),
            "full and light disagree"
        );
        if let Ok(checked) = light {
            self.light.commit(block.clone(), checked);
        }
        if let Ok(checked) = self.fixed.check(&block, NOW) {
            self.fixed.commit(block, checked);
        }
        full
    }
}

fn propose(action: String) -> PayloadBody {
    PayloadBody::GovernancePropose {
        title: "t".into(),
        description: String::new(),
        action: RawValue::from_string(action).unwrap(),
    }
}

fn peer(kind: &str, key: &Keypair) -> PayloadBody {
    propose(format!(
        r#"{{"type":"{kind}","publicKey":"{}"}}"#,
        key.public_hex()
    ))
}

#[test]
fn blocks_are_checked_against_the_set_in_force_at_their_height() {
    let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
    let mut net = Net::new(&a);

    // B is not a validator yet.
    let early = net.block(&b, vec![]);
    assert_eq!(net.offer(early), Err(Rule::BlockProposer));

    // A alone approves B.
    let add = net.tx(&a, peer("add-peer", &b));
    let block = net.block(&a, vec![add]);
    assert_eq!(net.offer(block), Ok(()));
    assert_eq!(
        net.light.validators().len(),
        2,
        "the light verifier followed the change"
    );

    // B's blocks count from the next height on; a verifier with a fixed trust root refuses them.
    let by_b = net.block(&b, vec![]);
    assert_eq!(net.offer(by_b), Ok(()));
    assert_eq!(
        net.fixed.height(),
        1,
        "the fixed verifier stopped at B's first block"
    );

    // B proposes removing A (1 of 2: active); A's own vote approves it.
    let remove = net.tx(&b, peer("remove-peer", &a));
    let id = remove.hash.clone();
    let block = net.block(&b, vec![remove]);
    assert_eq!(net.offer(block), Ok(()));
    let vote = net.tx(
        &a,
        PayloadBody::GovernanceVote {
            proposal_id: id,
            vote: true,
        },
    );
    let block = net.block(&a, vec![vote]);
    assert_eq!(net.offer(block), Ok(()));
    assert_eq!(
        net.light.validators().keys(),
        [b.public_hex().to_string()].as_slice()
    );

    // A is out: its blocks are refused from now on, B's accepted.
    let by_a = net.block(&a, vec![]);
    assert_eq!(net.offer(by_a), Err(Rule::BlockProposer));
    let by_b = net.block(&b, vec![]);
    assert_eq!(net.offer(by_b), Ok(()));
    assert_eq!(net.chain.tip().height, 5);
    assert_eq!(net.light.tip(), net.chain.tip());
}

#[test]
fn a_light_node_takes_a_genesis_only_with_its_hash() {
    use miniledger_core::genesis::{Consensus, Genesis};
    use miniledger_core::light::LightConfig;
    let keys = [Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32])];
    let validators: Vec<String> = keys.iter().map(|k| k.public_hex().to_string()).collect();
    let genesis = Genesis::new("net", Consensus::Raft, &validators, &[], &[]).unwrap();
    // As a node serves it (GET /genesis), and as a page passes it on (JSON.stringify).
    let served = serde_json::to_string_pretty(&genesis).unwrap();
    let config = LightConfig::from_genesis(&served, Some(&genesis.hash())).unwrap();
    assert_eq!(config.governance, Governance::OnChain);
    let mut sorted = validators.clone();
    sorted.sort();
    assert_eq!(config.validators.keys(), sorted.as_slice());
    assert_eq!(
        config.limits.max_txs_per_block,
        genesis.parameters.max_txs_per_block
    );
    // Trusted on first use (no hash given): the same network.
    assert!(LightConfig::from_genesis(&served, None).is_ok());
    // Another network's hash, or a document changed on the way: refused.
    let err = LightConfig::from_genesis(&served, Some(&"00".repeat(32))).unwrap_err();
    assert!(err.contains("another network"), "{err}");
    let forged = served.replace(&validators[1], &"ab".repeat(32));
    assert!(LightConfig::from_genesis(&forged, Some(&genesis.hash())).is_err());
}
