//! Synced runs on their way through the stateless checks (hashes, Merkle roots, every
//! signature), which the driver runs off the node's loop (the native node on a fixed pool of
//! worker threads). Each run is split into one [`VerifyJob`] per worker (inside a run every
//! block's parent is the block before it, so no part waits for another, and each worker
//! checks its part's signatures in one batch). Results come back as [`PartDone`] in any order
//! and are handed on strictly in run order; the state step and the commit stay on the node
//! (core's block pipeline).

use crate::model::{Block, BlockHeader};
use crate::pipeline::Rules;
use crate::sync::PeerId;
use crate::validation::{verify_blocks, ValidationError};
use std::collections::VecDeque;

/// One worker's share of a run, for the driver to check with [`VerifyJob::run`].
#[derive(Debug, Clone)]
pub struct VerifyJob {
    seq: u64,
    part: usize,
    blocks: Vec<Block>,
    parent: BlockHeader,
    now_ms: u64,
}

impl VerifyJob {
    /// The stateless checks (the costly part: call it wherever the driver runs such work).
    pub fn run(self, rules: &Rules) -> PartDone {
        let VerifyJob {
            seq,
            part,
            blocks,
            parent,
            now_ms,
        } = self;
        let first_bad =
            verify_blocks(&blocks, &parent, &rules.validators, &rules.limits, now_ms).err();
        PartDone {
            seq,
            part,
            blocks,
            first_bad,
        }
    }
}

/// A part checked: `first_bad` indexes into the part.
#[derive(Debug)]
pub struct PartDone {
    seq: u64,
    part: usize,
    blocks: Vec<Block>,
    first_bad: Option<(usize, ValidationError)>,
}

/// A run whose stateless checks are done: the first failing block (index, error), if any.
pub struct Verified {
    pub peer: PeerId,
    pub blocks: Vec<Block>,
    pub first_bad: Option<(usize, ValidationError)>,
}

/// A run being verified, its parts filled in as workers finish them.
struct InFlight {
    seq: u64,
    peer: PeerId,
    first_height: u64,
    last: BlockHeader,
    parts: Vec<Option<PartDone>>,
}

impl InFlight {
    fn is_done(&self) -> bool {
        self.parts.iter().all(Option::is_some)
    }

    /// The run reassembled, with its first failing block across the parts.
    fn into_verified(self) -> Verified {
        let mut blocks = Vec::new();
        let mut first_bad = None;
        for part in self.parts.into_iter().flatten() {
            if first_bad.is_none() {
                first_bad = part.first_bad.map(|(i, e)| (blocks.len() + i, e));
            }
            blocks.extend(part.blocks);
        }
        Verified {
            peer: self.peer,
            blocks,
            first_bad,
        }
    }
}

pub struct Verifying {
    workers: usize,
    max_in_flight: usize,
    in_flight: VecDeque<InFlight>,
    next_seq: u64,
}

impl Verifying {
    /// Up to `max_in_flight` runs at once, each split into `workers` parts.
    pub fn new(max_in_flight: usize, workers: usize) -> Self {
        Verifying {
            workers: workers.max(1),
            max_in_flight: max_in_flight.max(1),
            in_flight: VecDeque::new(),
            next_seq: 0,
        }
    }

    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.max_in_flight
    }

    /// Starts verifying `blocks` (the run after everything in flight, or after `tip` when
    /// nothing is): returns one job per part. Call only when [`Verifying::has_room`].
    pub fn start(
        &mut self,
        peer: PeerId,
        mut blocks: Vec<Block>,
        tip: BlockHeader,
        now_ms: u64,
    ) -> Vec<VerifyJob> {
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Vec::new();
        };
        let (first_height, last_header) = (first.height, last.header());
        let mut parent = self.in_flight.back().map_or(tip, |r| r.last.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        let size = blocks.len().div_ceil(self.workers);
        let mut parts = Vec::new();
        while !blocks.is_empty() {
            let rest = blocks.split_off(size.min(blocks.len()));
            let part = std::mem::replace(&mut blocks, rest);
            let next_parent = part[part.len() - 1].header();
            parts.push(VerifyJob {
                seq,
                part: parts.len(),
                blocks: part,
                parent: std::mem::replace(&mut parent, next_parent),
                now_ms,
            });
        }
        self.in_flight.push_back(InFlight {
            seq,
            peer,
            first_height,
            last: last_header,
            parts: parts.iter().map(|_| None).collect(),
        });
        parts
    }

    /// Keeps a worker's part if its run is still wanted.
    pub fn on_result(&mut self, done: PartDone) {
        if let Some(run) = self.in_flight.iter_mut().find(|r| r.seq == done.seq) {
            let part = done.part;
            run.parts[part] = Some(done);
        }
    }

    /// The oldest run, once every part of it is verified.
    pub fn next_verified(&mut self) -> Option<Verified> {
        if !self.in_flight.front()?.is_done() {
            return None;
        }
        self.in_flight.pop_front().map(InFlight::into_verified)
    }

    /// Drops every run starting above `height` (BlockSync voided them); their parts still
    /// being checked are discarded when they come back.
    pub fn drop_above(&mut self, height: u64) {
        self.in_flight.retain(|r| r.first_height <= height);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{Limits, Rule, ValidatorSet};
    use crate::{Governance, Keypair, StateRootRule};

    fn key() -> Keypair {
        Keypair::from_seed([3; 32])
    }

    fn rules() -> Rules {
        Rules {
            validators: ValidatorSet::new([key().public_hex()]),
            limits: Limits::default(),
            state_root: StateRootRule::Tree,
            governance: Governance::OnChain,
        }
    }

    /// `n` empty blocks on genesis.
    fn run(n: usize) -> Vec<Block> {
        let mut parent = Block::genesis().header();
        (0..n)
            .map(|i| {
                let block =
                    Block::build(&parent, 1_000 + i as u64, vec![], "00".repeat(32), &key());
                parent = block.header();
                block
            })
            .collect()
    }

    /// Runs the jobs last first (workers finish in any order).
    fn finish(v: &mut Verifying, jobs: Vec<VerifyJob>) {
        for job in jobs.into_iter().rev() {
            v.on_result(job.run(&rules()));
        }
    }

    #[test]
    fn runs_come_back_whole_in_order_with_the_first_bad_block_of_the_run() {
        let mut v = Verifying::new(2, 3);
        let blocks = run(10);
        let tip = Block::genesis().header();
        let (first, mut second) = (blocks[..7].to_vec(), blocks[7..].to_vec());
        // The 6th block (third part of three) and the 9th (second run) are forged.
        let mut first_forged = first.clone();
        first_forged[5].signature = first_forged[4].signature.clone();
        second[1].signature = second[0].signature.clone();
        let a = v.start("a".into(), first_forged, tip.clone(), 10_000);
        assert_eq!(a.len(), 3);
        assert!(v.has_room());
        let b = v.start("b".into(), second.clone(), tip, 10_000);
        assert!(!v.has_room());
        finish(&mut v, b);
        assert!(v.next_verified().is_none(), "the first run is not done");
        finish(&mut v, a);
        let verified = v.next_verified().unwrap();
        assert_eq!((verified.peer.as_str(), verified.blocks.len()), ("a", 7));
        let (index, error) = verified.first_bad.expect("a forged block");
        assert_eq!((index, error.rule), (5, Rule::BlockSignature));
        assert_eq!(verified.blocks[..5], first[..5]);
        // The second run was checked on the first's last block, across the parts.
        let verified = v.next_verified().unwrap();
        assert_eq!(verified.peer, "b");
        assert_eq!(verified.blocks, second);
        assert_eq!(
            verified.first_bad.map(|(i, e)| (i, e.rule)),
            Some((1, Rule::BlockSignature))
        );
    }

    #[test]
    fn a_voided_run_is_dropped_and_late_parts_are_discarded() {
        let mut v = Verifying::new(2, 2);
        let blocks = run(6);
        let tip = Block::genesis().header();
        let a = v.start("a".into(), blocks[..3].to_vec(), tip.clone(), 10_000);
        let b = v.start("a".into(), blocks[3..].to_vec(), tip.clone(), 10_000);
        v.drop_above(3);
        finish(&mut v, b);
        finish(&mut v, a);
        let verified = v.next_verified().unwrap();
        assert_eq!(verified.blocks, blocks[..3]);
        assert!(verified.first_bad.is_none());
        assert!(v.next_verified().is_none(), "the voided run is gone");
        // Taken again (on its parent), the dropped run verifies.
        let again = v.start("a".into(), blocks[3..].to_vec(), blocks[2].header(), 10_000);
        finish(&mut v, again);
        let verified = v.next_verified().unwrap();
        assert_eq!(verified.blocks, blocks[3..]);
        assert!(verified.first_bad.is_none(), "{:?}", verified.first_bad);
    }
}
