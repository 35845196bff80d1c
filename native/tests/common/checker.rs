//! The fault checker: reads every node's whole chain over REST and compares it with the
//! transactions clients were acknowledged. It holds the fault tests' promise: identical chains,
//! every acknowledged transaction committed exactly once, no transaction twice, each sender's
//! nonces contiguous from 0 (a gap or a reused nonce would mean a lost or doubled write).

use super::NodeProcess;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One committed transaction as the checker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTx {
    pub hash: String,
    pub sender: String,
    pub nonce: u64,
    pub height: u64,
}

/// A node's chain: block hashes by height (genesis first) and its transactions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub block_hashes: Vec<String>,
    pub txs: Vec<ChainTx>,
}

/// Blocks per `/blocks` page (the API's maximum).
const PAGE: u64 = 100;

/// The node's chain, read page by page (newest first) and checked to link up. The node must
/// not commit meanwhile: call it once the load has stopped and the nodes agree on the tip.
pub fn chain(node: &NodeProcess) -> Chain {
    let height = node.tip().0;
    let mut blocks: Vec<Value> = Vec::with_capacity(height as usize + 1);
    for page in 1..=(height / PAGE + 1) {
        let body = node.get_ok(&format!("/blocks?page={page}&limit={PAGE}"));
        blocks.extend(body["blocks"].as_array().unwrap().iter().cloned());
    }
    blocks.reverse();
    assert_eq!(
        blocks.len() as u64,
        height + 1,
        "{}: blocks 0..={height}",
        node.name
    );
    let mut chain = Chain {
        block_hashes: Vec::with_capacity(blocks.len()),
        txs: Vec::new(),
    };
    for (h, block) in blocks.iter().enumerate() {
        assert_eq!(block["height"], h as u64, "{}: block order", node.name);
        if let Some(parent) = chain.block_hashes.last() {
            assert_eq!(
                block["previousHash"], *parent,
                "{}: block {h} link",
                node.name
            );
        }
        chain
            .block_hashes
            .push(block["hash"].as_str().unwrap().to_string());
        for tx in block["transactions"].as_array().unwrap() {
            chain.txs.push(ChainTx {
                hash: tx["hash"].as_str().unwrap().to_string(),
                sender: tx["sender"].as_str().unwrap().to_string(),
                nonce: tx["nonce"].as_u64().unwrap(),
                height: h as u64,
            });
        }
    }
    chain
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Report {
    pub height: u64,
    /// Acknowledgements that must be in the chain.
    pub acked: usize,
    /// Transactions in the chain.
    pub committed: usize,
    /// Acknowledged but absent.
    pub lost: Vec<String>,
    /// In the chain more than once.
    pub duplicated: Vec<String>,
    /// `sender: expected nonce N, found M at height H`.
    pub nonce_breaks: Vec<String>,
    /// Names of nodes whose chain differs from the first node's.
    pub diverged: Vec<String>,
    /// After the load stopped, the tips never agreed or a mempool never drained (with every
    /// node up, each pending transaction must commit or be dropped).
    pub unsettled: bool,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.nonce_breaks.is_empty()
            && self.diverged.is_empty()
            && !self.unsettled
    }

    /// One line for logs and scripts.
    pub fn summary(&self) -> String {
        format!(
            "height={} acked={} committed={} lost={} duplicated={} nonce_breaks={} diverged={} \
             unsettled={}",
            self.height,
            self.acked,
            self.committed,
            self.lost.len(),
            self.duplicated.len(),
            self.nonce_breaks.len(),
            self.diverged.len(),
            self.unsettled
        )
    }

    /// Fails the test, listing (the first few of) every problem.
    pub fn assert_clean(&self) {
        let first = |v: &[String]| v.iter().take(10).cloned().collect::<Vec<_>>();
        assert!(
            self.is_clean(),
            "{}\nlost: {:?}\nduplicated: {:?}\nnonce breaks: {:?}\ndiverged: {:?}",
            self.summary(),
            first(&self.lost),
            first(&self.duplicated),
            first(&self.nonce_breaks),
            self.diverged
        );
    }
}

/// Compares every node's chain with the first node's, and that chain with `must_commit`.
pub fn check(nodes: &[&NodeProcess], must_commit: &[String]) -> Report {
    let chains: Vec<Chain> = nodes.iter().map(|n| chain(n)).collect();
    let reference = &chains[0];
    let mut report = Report {
        height: reference.block_hashes.len() as u64 - 1,
        acked: must_commit.len(),
        committed: reference.txs.len(),
        ..Report::default()
    };
    for (node, chain) in nodes.iter().zip(&chains).skip(1) {
        if chain != reference {
            report.diverged.push(node.name.clone());
        }
    }
    let mut seen = HashSet::with_capacity(reference.txs.len());
    let mut next_nonce: HashMap<&str, u64> = HashMap::new();
    for tx in &reference.txs {
        if !seen.insert(tx.hash.as_str()) {
            report.duplicated.push(tx.hash.clone());
        }
        let expected = next_nonce.entry(&tx.sender).or_insert(0);
        if tx.nonce != *expected {
            report.nonce_breaks.push(format!(
                "{}: expected nonce {expected}, found {} at height {}",
                &tx.sender[..16],
                tx.nonce,
                tx.height
            ));
        }
        *expected = tx.nonce + 1;
    }
    report.lost = must_commit
        .iter()
        .filter(|h| !seen.contains(h.as_str()))
        .cloned()
        .collect();
    report
}
