//! Linearizability of one register's history: the Wing–Gong search with Lowe's memoisation, as
//! Knossos and Porcupine do it.
//!
//! Why not stateright's `LinearizabilityTester` (tried first): it searches interleavings without
//! remembering visited states, so a history that is *not* linearizable (exactly what a mutation
//! check produces) took minutes for one key of ~100 operations. Remembering every
//! (set of operations linearized, register value) already explored makes the search
//! polynomial in practice: a configuration is never explored twice.
//!
//! The history is a list of operations with call and return positions in one real-time order.
//! An operation whose outcome is unknown returns "at the end": it may take effect at any point
//! after its call, including never observably (a write linearized after every read).

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOp {
    Write(String),
    /// Saw this value (`None`: the register was never written).
    Read(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub op: RegisterOp,
    /// Position of the call in the history's real-time order.
    pub call: usize,
    /// Position of the return; `None` if unknown (returns after everything).
    pub ret: Option<usize>,
}

/// One entry of the time line: a call or a return of operation `op`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
}

/// Configurations explored before the checker gives up on a history (then `Undecided`).
const BUDGET: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The search exceeded its budget: no claim either way.
    Undecided,
}

/// Whether some order of the operations, each placed between its call and return, is a legal
/// sequence of register operations starting from an unwritten register.
pub fn check(ops: &[Operation]) -> Verdict {
    let end = usize::MAX;
    let mut timeline: Vec<(usize, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        timeline.push((o.call, true, i));
        timeline.push((o.ret.unwrap_or(end), false, i));
    }
    // Calls before returns at the same position (unknown ones all share the end).
    timeline.sort_by_key(|&(at, is_call, i)| (at, !is_call, i));
    let entries: Vec<Entry> = timeline
        .iter()
        .map(|&(_, is_call, op)| Entry { op, is_call })
        .collect();

    // A doubly linked list over `entries`, so lifting an operation out is O(1).
    let n = entries.len();
    let mut next: Vec<usize> = (1..=n).collect(); // n = end of list
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect(); // MAX = head
    let mut head = if n == 0 { n } else { 0 };
    let mut call_of = vec![0; ops.len()];
    let mut ret_of = vec![0; ops.len()];
    for (k, e) in entries.iter().enumerate() {
        if e.is_call {
            call_of[e.op] = k;
        } else {
            ret_of[e.op] = k;
        }
    }

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    let mut state: Option<String> = None;
    // (operation lifted, register value before it)
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut cursor = head;

    let unlink = |k: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[k], next[k]);
        if p == usize::MAX {
            *head = nx;
        } else {
            next[p] = nx;
        }
        if nx < n {
            prev[nx] = p;
        }
    };
    let relink = |k: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>, head: &mut usize| {
        let (p, nx) = (prev[k], next[k]);
        if p == usize::MAX {
            *head = k;
        } else {
            next[p] = k;
        }
        if nx < n {
            prev[nx] = k;
        }
    };

    while head < n {
        if cursor >= n {
            // Every remaining entry was tried from this configuration: backtrack.
            let Some((op, before)) = stack.pop() else {
                return Verdict::NotLinearizable;
            };
            state = before;
            linearized[op / 64] &= !(1 << (op % 64));
            relink(ret_of[op], &mut next, &mut prev, &mut head);
            relink(call_of[op], &mut next, &mut prev, &mut head);
            cursor = next[call_of[op]];
            continue;
        }
        let entry = entries[cursor];
        if !entry.is_call {
            // A return whose operation is not linearized yet: nothing after it may go first.
            cursor = n;
            continue;
        }
        let op = entry.op;
        let after = match &ops[op].op {
            RegisterOp::Write(v) => Some(Some(v.clone())),
            RegisterOp::Read(seen_value) => (*seen_value == state).then(|| state.clone()),
        };
        if let Some(after) = after {
            linearized[op / 64] |= 1 << (op % 64);
            if seen.len() > BUDGET {
                return Verdict::Undecided;
            }
            if seen.insert((linearized.clone(), after.clone())) {
                stack.push((op, std::mem::replace(&mut state, after)));
                unlink(call_of[op], &mut next, &mut prev, &mut head);
                unlink(ret_of[op], &mut next, &mut prev, &mut head);
                cursor = head;
                continue;
            }
            linearized[op / 64] &= !(1 << (op % 64));
        }
        cursor = next[cursor];
    }
    Verdict::Linearizable
}
