//! Verifying synced runs off the node loop: core's stateless checks (hashes, Merkle roots,
//! every signature) run on a fixed pool of worker threads, created with the node and fed
//! through a bounded channel, while the loop commits the run before. Each run is split into
//! one part per worker (inside a run every block's parent is the block before it, so no part
//! waits for another, and each worker checks its part's signatures in one batch). Results are
//! handed back strictly in run order; the state step and the commit stay on the loop (core's
//! block pipeline, `apply::apply_verified`).

use super::apply::Rules;
use miniledger_core::sync::PeerId;
use miniledger_core::validation::{verify_blocks, ValidationError};
use miniledger_core::{Block, BlockHeader};
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

/// Hands a checked part to the node loop (through its inbox), which passes it to
/// [`VerifyPipeline::on_result`].
pub type Deliver = Arc<dyn Fn(PartDone) + Send + Sync>;

/// A run whose stateless checks are done: the first failing block (index, error), if any.
pub struct Verified {
    pub peer: PeerId,
    pub blocks: Vec<Block>,
    pub first_bad: Option<(usize, ValidationError)>,
}

/// One worker's share of a run.
struct Job {
    seq: u64,
    part: usize,
    blocks: Vec<Block>,
    parent: BlockHeader,
    now_ms: u64,
}

/// A part checked: `first_bad` indexes into the part.
pub struct PartDone {
    seq: u64,
    part: usize,
    blocks: Vec<Block>,
    first_bad: Option<(usize, ValidationError)>,
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

/// The worker threads: created once, they live as long as the job channel's sender.
struct Pool {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl Pool {
    fn start(workers: usize, capacity: usize, rules: Rules, deliver: Deliver) -> Pool {
        let (jobs, queue) = sync_channel::<Job>(capacity);
        let queue = Arc::new(Mutex::new(queue));
        let rules = Arc::new(rules);
        for i in 0..workers {
            let (queue, rules, deliver) = (queue.clone(), rules.clone(), deliver.clone());
            std::thread::Builder::new()
                .name(format!("verifier-{i}"))
                .spawn(move || work(&queue, &rules, &*deliver))
                .expect("starting a verifier thread");
        }
        Pool { jobs, workers }
    }
}

/// A worker's life: take the next part, check it, hand it back; ends when the node drops the
/// pool (the channel closes).
fn work(queue: &Mutex<Receiver<Job>>, rules: &Rules, deliver: &(dyn Fn(PartDone) + Send + Sync)) {
    lower_priority();
    loop {
        // The lock is held only while waiting for a job, never while checking one.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(Job {
            seq,
            part,
            blocks,
            parent,
            now_ms,
        }) = job
        else {
            return;
        };
        let first_bad =
            verify_blocks(&blocks, &parent, &rules.validators, &rules.limits, now_ms).err();
        deliver(PartDone {
            seq,
            part,
            blocks,
            first_bad,
        });
    }
}

pub struct VerifyPipeline {
    pool: Pool,
    max_in_flight: usize,
    in_flight: VecDeque<InFlight>,
    next_seq: u64,
}

impl VerifyPipeline {
    /// Starts `workers` verifier threads for up to `max_in_flight` runs at once, checked
    /// under `rules`.
    pub fn new(max_in_flight: usize, workers: usize, rules: Rules, deliver: Deliver) -> Self {
        let (max_in_flight, workers) = (max_in_flight.max(1), workers.max(1));
        // Every part of every run in flight fits, and as many again of runs voided while still
        // queued: `start` waits (for a worker to take a part) only after repeated voids.
        let pool = Pool::start(workers, 2 * max_in_flight * workers, rules, deliver);
        VerifyPipeline {
            pool,
            max_in_flight,
            in_flight: VecDeque::new(),
            next_seq: 0,
        }
    }

    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.max_in_flight
    }

    /// Starts verifying `blocks` (the run after everything in flight, or after `tip` when
    /// nothing is), one part per worker. Call only when [`VerifyPipeline::has_room`].
    pub fn start(&mut self, peer: PeerId, mut blocks: Vec<Block>, tip: BlockHeader, now_ms: u64) {
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return;
        };
        let (first_height, last_header) = (first.height, last.header());
        let mut parent = self.in_flight.back().map_or(tip, |r| r.last.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        let size = blocks.len().div_ceil(self.pool.workers);
        let mut parts = Vec::new();
        while !blocks.is_empty() {
            let rest = blocks.split_off(size.min(blocks.len()));
            let part = std::mem::replace(&mut blocks, rest);
            let next_parent = part[part.len() - 1].header();
            parts.push(Job {
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
        for job in parts {
            // Bounded by `has_room` (see `new`). Fails only if every worker died, which a
            // panic in core's checks would cause: the node cannot sync on.
            self.pool
                .jobs
                .send(job)
                .expect("verifier threads are running");
        }
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

/// Verification works ahead of the commits it feeds; when both want a core, the commit (the
/// pipeline's serial stage) should get it: the verifier threads run at nice 10. Measured +4 %
/// sync rate (median of six alternated runs).
fn lower_priority() {
    // SAFETY: setpriority takes plain integers; on Linux, `who` = 0 with PRIO_PROCESS names the
    // calling thread only (nice values are per thread there; elsewhere it would be the process).
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniledger_core::validation::{Limits, Rule, ValidatorSet};
    use miniledger_core::{Keypair, StateRootRule};

    fn key() -> Keypair {
        Keypair::from_seed([3; 32])
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

    /// A pipeline whose workers deliver into a channel (the node's inbox in the node).
    fn pipeline(workers: usize) -> (VerifyPipeline, Receiver<PartDone>) {
        let rules = Rules {
            validators: ValidatorSet::new([key().public_hex()]),
            limits: Limits::default(),
            state_root: StateRootRule::Tree,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let deliver: Deliver = Arc::new(move |done| {
            let _ = tx.lock().unwrap().send(done);
        });
        (VerifyPipeline::new(2, workers, rules, deliver), rx)
    }

    fn wait(pipeline: &mut VerifyPipeline, results: &Receiver<PartDone>) -> Verified {
        loop {
            if let Some(verified) = pipeline.next_verified() {
                return verified;
            }
            let done = results.recv().expect("workers running");
            pipeline.on_result(done);
        }
    }

    #[test]
    fn runs_come_back_whole_in_order_with_the_first_bad_block_of_the_run() {
        let (mut pipeline, results) = pipeline(3);
        let blocks = run(10);
        let tip = Block::genesis().header();
        let (first, mut second) = (blocks[..7].to_vec(), blocks[7..].to_vec());
        // The 6th block (third part of three) and the 9th (second run) are forged.
        let mut first_forged = first.clone();
        first_forged[5].signature = first_forged[4].signature.clone();
        second[1].signature = second[0].signature.clone();
        pipeline.start("a".into(), first_forged, tip.clone(), 10_000);
        assert!(pipeline.has_room());
        pipeline.start("b".into(), second.clone(), tip, 10_000);
        assert!(!pipeline.has_room());

        let verified = wait(&mut pipeline, &results);
        assert_eq!((verified.peer.as_str(), verified.blocks.len()), ("a", 7));
        let (index, error) = verified.first_bad.expect("a forged block");
        assert_eq!((index, error.rule), (5, Rule::BlockSignature));
        assert_eq!(verified.blocks[..5], first[..5]);
        // The second run was checked on the first's last block, across the parts.
        let verified = wait(&mut pipeline, &results);
        assert_eq!(verified.peer, "b");
        assert_eq!(verified.blocks, second);
        assert_eq!(
            verified.first_bad.map(|(i, e)| (i, e.rule)),
            Some((1, Rule::BlockSignature))
        );
    }

    #[test]
    fn a_voided_run_is_dropped_and_the_workers_go_on() {
        let (mut pipeline, results) = pipeline(2);
        let blocks = run(6);
        let tip = Block::genesis().header();
        pipeline.start("a".into(), blocks[..3].to_vec(), tip.clone(), 10_000);
        pipeline.start("a".into(), blocks[3..].to_vec(), tip.clone(), 10_000);
        pipeline.drop_above(3);
        let verified = wait(&mut pipeline, &results);
        assert_eq!(verified.blocks, blocks[..3]);
        assert!(verified.first_bad.is_none());
        // Taken again (on its parent), the dropped run verifies.
        pipeline.start("a".into(), blocks[3..].to_vec(), blocks[2].header(), 10_000);
        let verified = wait(&mut pipeline, &results);
        assert_eq!(verified.blocks, blocks[3..]);
        assert!(verified.first_bad.is_none(), "{:?}", verified.first_bad);
        assert!(pipeline.next_verified().is_none());
    }
}
