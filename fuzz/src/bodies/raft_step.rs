//! A Raft validator of a 3-node cluster fed a program of ticks, consensus messages from its
//! peers (and from strangers), proposals and `ready`/`advance` cycles, decoded from the bytes.
//! Terms and indices are mostly near the node's own (so elections and replication happen) and
//! now and then extreme.
//!
//! Properties: nothing panics; the term and the commit index never decrease; committed entries
//! come out once each, in order, and never change; a leader names itself; no message goes to
//! itself; every message fits the frame cap.

use super::input::Input;
use miniledger_core::crypto::Keypair;
use miniledger_core::model::{Block, BlockHeader};
use miniledger_core::protocol::{
    AppendEntries, AppendEntriesReply, LogEntry, Message, RequestVote, RequestVoteReply,
};
use miniledger_core::raft::wire::frame_len;
use miniledger_core::raft::{Raft, RaftConfig, Restored, Role};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Heights of the prepared chains.
const DEPTH: u64 = 6;
const OPS: usize = 256;

struct Cluster {
    keys: Vec<Keypair>,
    /// Two different chains of `DEPTH` blocks on genesis: entries from either, so logs conflict.
    forks: [Vec<Block>; 2],
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let keys: Vec<Keypair> = (1..=3).map(|i| Keypair::from_seed([i; 32])).collect();
        let fork = |key: &Keypair, step: u64| {
            let mut parent = Block::genesis().header();
            (0..DEPTH)
                .map(|_| {
                    let block = Block::build(
                        &parent,
                        parent.timestamp + step,
                        Vec::new(),
                        "0".repeat(64),
                        key,
                    );
                    parent = block.header();
                    block
                })
                .collect::<Vec<_>>()
        };
        let forks = [fork(&keys[1], 1), fork(&keys[2], 7)];
        Cluster { keys, forks }
    })
}

/// A term near `current` (mostly), small, or near the top of the range.
fn term(input: &mut Input, current: u64) -> u64 {
    let b = input.u8();
    let k = u64::from(b & 3);
    match b >> 6 {
        0 => current.saturating_sub(k),
        1 => current.saturating_add(k),
        2 => u64::from(b & 15),
        _ => u64::MAX - k,
    }
}

/// A log index: mostly within the prepared chains, now and then extreme.
fn index(input: &mut Input) -> u64 {
    let b = input.u8();
    if b >= 250 {
        u64::MAX - u64::from(b - 250)
    } else {
        u64::from(b) % (DEPTH + 2)
    }
}

pub fn raft_step(data: &[u8]) {
    let c = cluster();
    let mut input = Input::new(data);
    let public: Vec<String> = c.keys.iter().map(|k| k.public_hex().to_string()).collect();
    let mut config = RaftConfig::new(public[0].clone(), public.clone());
    // A small frame cap, so batches get cut.
    config.max_message_bytes = 4096;
    config.retained_entries = 2;
    config.max_uncommitted = 4;
    let mut raft =
        Raft::new(config.clone(), Restored::fresh(), u64::from(input.u16())).expect("valid config");
    let me = raft.node_id().to_string();
    let peers: Vec<String> = c.keys.iter().map(|k| k.node_id().to_string()).collect();
    // Entries the driver's check refuses: those whose index is this modulo 4 (4 = none).
    let refuse = u64::from(input.u8() % 5);
    let mut check = |_: &[LogEntry], e: &LogEntry| {
        if e.index % 4 == refuse {
            Err("refused by the fuzzer".to_string())
        } else {
            Ok(())
        }
    };

    let mut now = 1_000_000u64;
    let mut last_term = raft.term();
    let mut last_commit = raft.commit_index();
    let mut applied = 0u64;
    let mut committed: BTreeMap<u64, String> = BTreeMap::new();
    for _ in 0..OPS {
        if input.is_empty() {
            break;
        }
        // Who speaks: a peer validator mostly, else ourselves or a stranger.
        let from = match input.below(8) {
            0 => me.clone(),
            1 => "0123456789abcdef".to_string(),
            n => peers[1 + n % 2].clone(),
        };
        let current = raft.term();
        match input.below(7) {
            0 => {
                now += u64::from(input.u16());
                raft.tick(now);
            }
            1 => {
                let m = RequestVote {
                    term: term(&mut input, current),
                    candidate_id: if input.bool() {
                        from.clone()
                    } else {
                        me.clone()
                    },
                    last_log_index: index(&mut input),
                    last_log_term: term(&mut input, current),
                    pre_vote: input.bool(),
                };
                raft.step(&from, &Message::RequestVote(m), now, &mut check);
            }
            2 => {
                let m = RequestVoteReply {
                    term: term(&mut input, current),
                    vote_granted: input.bool(),
                    pre_vote: input.bool(),
                };
                raft.step(&from, &Message::RequestVoteReply(m), now, &mut check);
            }
            3 => {
                let prev_log_index = index(&mut input);
                let prev_log_term = term(&mut input, current);
                let entry_term = term(&mut input, current);
                let fork = &c.forks[input.below(2)];
                let count = input.below(4);
                let entries = (1..=count as u64)
                    .filter_map(|k| prev_log_index.checked_add(k))
                    .filter_map(|i| fork.get(usize::try_from(i).ok()? - 1))
                    .map(|block| LogEntry {
                        term: entry_term,
                        index: block.height,
                        block: block.clone(),
                    })
                    .collect();
                let m = AppendEntries {
                    term: term(&mut input, current),
                    leader_id: if input.bool() {
                        from.clone()
                    } else {
                        me.clone()
                    },
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit: index(&mut input),
                    first_index: input.bool().then(|| index(&mut input)),
                    ..AppendEntries::default()
                };
                raft.step(&from, &Message::AppendEntries(m), now, &mut check);
            }
            4 => {
                let m = AppendEntriesReply {
                    term: term(&mut input, current),
                    success: input.bool(),
                    match_index: index(&mut input),
                    ..AppendEntriesReply::default()
                };
                raft.step(&from, &Message::AppendEntriesReply(m), now, &mut check);
            }
            5 => {
                let last = raft.last_entry().header;
                let block = next_block(&c.keys[0], &last);
                let _ = raft.propose(block, now);
            }
            _ => {
                let rd = raft.ready();
                if let Some(hard) = &rd.hard_state {
                    assert_eq!(hard.term, raft.term(), "hard state term");
                }
                for (to, message) in &rd.messages {
                    assert_ne!(to, &me, "message to itself");
                    let len = frame_len(&me, message);
                    assert!(len <= config.max_message_bytes, "{len}-byte frame");
                }
                for entry in &rd.committed {
                    assert_eq!(entry.index, applied + 1, "committed out of order");
                    applied = entry.index;
                    same_as_before(&mut committed, entry);
                }
                raft.advance();
            }
        }
        assert!(raft.term() >= last_term, "term went down");
        assert!(raft.commit_index() >= last_commit, "commit index went down");
        last_term = raft.term();
        last_commit = raft.commit_index();
        if raft.role() == Role::Leader {
            assert_eq!(
                raft.leader(),
                Some(me.as_str()),
                "leader does not name itself"
            );
        }
        for entry in raft.entries() {
            if entry.index <= raft.commit_index() {
                same_as_before(&mut committed, entry);
            }
        }
        let status = raft.status();
        assert!(
            status.last_index >= status.commit_index,
            "commit past the log"
        );
    }
}

/// A committed entry never changes (State Machine Safety, seen from one node).
fn same_as_before(committed: &mut BTreeMap<u64, String>, entry: &LogEntry) {
    let hash = committed
        .entry(entry.index)
        .or_insert_with(|| entry.block.hash.clone());
    assert_eq!(
        hash, &entry.block.hash,
        "committed entry {} changed",
        entry.index
    );
}

/// An empty block on `parent`, signed by `key`; cached, since signing dominates a run.
fn next_block(key: &Keypair, parent: &BlockHeader) -> Block {
    thread_local! {
        static BUILT: std::cell::RefCell<BTreeMap<String, Block>> = Default::default();
    }
    BUILT.with(|built| {
        let mut built = built.borrow_mut();
        if built.len() > 4096 {
            built.clear();
        }
        built
            .entry(parent.hash.clone())
            .or_insert_with(|| {
                Block::build(
                    parent,
                    parent.timestamp + 1,
                    Vec::new(),
                    "0".repeat(64),
                    key,
                )
            })
            .clone()
    })
}
