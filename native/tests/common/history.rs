//! Client histories for the nemesis (Jepsen's model): every operation's invocation and
//! completion, recorded in real-time order, then checked per key as a register.
//!
//! Writes and linearizable reads must be linearizable, checked by `linearizable::check` (the
//! Wing–Gong search with memoisation, as Knossos and Porcupine do it). A write whose outcome is
//! unknown (a timeout, a dropped connection) may or may not have happened: it stays in flight
//! forever, and its client continues as a new process, as in Jepsen. A definite failure (the
//! node refused the write before admitting it) never happened and is left out.
//!
//! Plain reads are documented as possibly stale; they are not held to linearizability but
//! measured: a plain read is stale when it returned a value older (in the chain's commit order)
//! than a write acknowledged before the read began; its staleness is how long before the read
//! that newer write was acknowledged.

use super::linearizable::{self, RegisterOp, Verdict};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Write(String),
    /// A plain read (possibly stale by design).
    Read,
    /// `?consistency=linearizable`.
    LinearizableRead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for reads, the value seen (`None`: the key did not exist).
    Ok(Option<String>),
    /// Definitely not done.
    Fail,
    /// May or may not have happened.
    Unknown,
}

#[derive(Debug, Clone)]
enum Kind {
    Invoke(Op),
    Complete(Outcome),
}

#[derive(Debug, Clone)]
struct Event {
    process: u64,
    key: String,
    at: Instant,
    kind: Kind,
    /// For the dump of a failing key: which node, what status.
    detail: String,
}

/// The history, appended under one lock so its order is the real-time order.
#[derive(Default)]
pub struct History {
    events: Mutex<Vec<Event>>,
}

impl History {
    pub fn invoke(&self, process: u64, key: &str, op: Op) {
        self.push(process, key, Kind::Invoke(op), String::new());
    }

    pub fn complete(&self, process: u64, key: &str, outcome: Outcome) {
        self.push(process, key, Kind::Complete(outcome), String::new());
    }

    /// As [`History::complete`], with a note for dumps (the node, the HTTP status).
    pub fn complete_noted(&self, process: u64, key: &str, outcome: Outcome, detail: String) {
        self.push(process, key, Kind::Complete(outcome), detail);
    }

    fn push(&self, process: u64, key: &str, kind: Kind, detail: String) {
        let mut events = self.events.lock().unwrap();
        events.push(Event {
            process,
            key: key.to_string(),
            at: Instant::now(),
            kind,
            detail,
        });
    }

    /// The events of one key, one per line, in order (times in ms from the history's start).
    pub fn dump(&self, key: &str) -> String {
        let events = self.events.lock().unwrap();
        let Some(start) = events.first().map(|e| e.at) else {
            return String::new();
        };
        events
            .iter()
            .filter(|e| e.key == key)
            .map(|e| {
                let ms = (e.at - start).as_millis();
                format!("{ms:>7} p{:<4} {:?} {}\n", e.process, e.kind, e.detail)
            })
            .collect()
    }
}

/// One operation with its invocation and completion.
#[derive(Debug, Clone)]
struct Operation {
    process: u64,
    op: Op,
    invoked: Instant,
    /// Index of the invocation and of the completion in the key's event list.
    invoke_at: usize,
    complete_at: Option<usize>,
    outcome: Outcome,
    completed: Option<Instant>,
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Analysis {
    pub ops: usize,
    pub unknown: usize,
    pub failed: usize,
    /// Keys whose writes and linearizable reads admit no linearization.
    pub non_linearizable: Vec<String>,
    /// Keys too large for the checker's budget (no claim either way).
    pub undecided: Vec<String>,
    pub linearizable_reads: usize,
    pub plain_reads: usize,
    pub stale_reads: usize,
    pub max_staleness: Duration,
}

impl Analysis {
    pub fn anomalies(&self) -> usize {
        self.non_linearizable.len()
    }
}

/// Checks the history. `commit_order[key]` lists the values written to `key` in chain order.
pub fn analyse(history: &History, commit_order: &HashMap<String, Vec<String>>) -> Analysis {
    let events = history.events.lock().unwrap().clone();
    let mut by_key: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(e.key.clone()).or_default().push(e);
    }
    let mut analysis = Analysis::default();
    for (key, events) in by_key {
        let ops = operations(&events);
        analysis.ops += ops.len();
        analysis.unknown += ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();
        analysis.failed += ops.iter().filter(|o| o.outcome == Outcome::Fail).count();
        match linearizable(&ops) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => analysis.non_linearizable.push(key.clone()),
            Verdict::Undecided => analysis.undecided.push(key.clone()),
        }
        let order = commit_order.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        staleness(&ops, order, &mut analysis);
    }
    analysis
}

/// Pairs each invocation with its process's next completion.
fn operations(events: &[Event]) -> Vec<Operation> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut ops: Vec<Operation> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            Kind::Invoke(op) => {
                open.insert(e.process, ops.len());
                ops.push(Operation {
                    process: e.process,
                    op: op.clone(),
                    invoked: e.at,
                    invoke_at: i,
                    complete_at: None,
                    outcome: Outcome::Unknown,
                    completed: None,
                });
            }
            Kind::Complete(outcome) => {
                let k = open
                    .remove(&e.process)
                    .expect("completion without invocation");
                ops[k].complete_at = Some(i);
                ops[k].outcome = outcome.clone();
                ops[k].completed = Some(e.at);
            }
        }
    }
    ops
}

/// Writes (not failed) and linearizable reads (ok) as a register history.
fn linearizable(ops: &[Operation]) -> Verdict {
    // A write of unknown outcome that no read observed can always take effect last (it may
    // happen any time after its call): leaving it out changes nothing, and keeps the search
    // from trying every subset of such writes (many, in a partition).
    let observed: HashSet<&str> = ops
        .iter()
        .filter_map(|o| match (&o.op, &o.outcome) {
            (Op::LinearizableRead, Outcome::Ok(Some(v))) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    let register_ops: Vec<linearizable::Operation> = ops
        .iter()
        .filter_map(|o| {
            let op = match (&o.op, &o.outcome) {
                // A failed write never happened; a plain read is judged by `staleness`.
                (Op::Write(_), Outcome::Fail) | (Op::Read, _) => return None,
                (Op::Write(v), Outcome::Unknown) if !observed.contains(v.as_str()) => return None,
                (Op::Write(v), _) => RegisterOp::Write(v.clone()),
                (Op::LinearizableRead, Outcome::Ok(seen)) => RegisterOp::Read(seen.clone()),
                // A read that failed or timed out saw nothing.
                (Op::LinearizableRead, _) => return None,
            };
            let ret = match o.outcome {
                Outcome::Ok(_) => o.complete_at,
                _ => None,
            };
            Some(linearizable::Operation {
                op,
                call: o.invoke_at,
                ret,
            })
        })
        .collect();
    linearizable::check(&register_ops)
}

/// Counts plain reads that missed a write acknowledged before they began.
fn staleness(ops: &[Operation], order: &[String], analysis: &mut Analysis) {
    let position = |v: &Option<String>| match v {
        None => Some(0),
        Some(v) => order.iter().position(|w| w == v).map(|p| p + 1),
    };
    let acked: Vec<(usize, Instant)> = ops
        .iter()
        .filter_map(|o| match (&o.op, &o.outcome, o.completed) {
            (Op::Write(v), Outcome::Ok(_), Some(at)) => Some((position(&Some(v.clone()))?, at)),
            _ => None,
        })
        .collect();
    for o in ops {
        match (&o.op, &o.outcome) {
            (Op::LinearizableRead, Outcome::Ok(_)) => analysis.linearizable_reads += 1,
            (Op::Read, Outcome::Ok(seen)) => {
                analysis.plain_reads += 1;
                let Some(seen_at) = position(seen) else {
                    continue; // a value the chain does not hold: the linearizable check's job
                };
                let newer = acked
                    .iter()
                    .filter(|(p, at)| *p > seen_at && *at < o.invoked)
                    .map(|(_, at)| *at)
                    .min();
                if let Some(first) = newer {
                    analysis.stale_reads += 1;
                    analysis.max_staleness = analysis.max_staleness.max(o.invoked - first);
                }
            }
            _ => {}
        }
    }
}
