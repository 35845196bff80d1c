//! One function per fuzz target: bytes in, a panic when a property breaks. Shared by the
//! cargo-fuzz binaries (`fuzz/fuzz_targets/`) and by `core/tests/fuzz_corpus.rs`, which
//! includes this directory by path and replays `fuzz/corpus/` and `fuzz/regressions/` on stable.

mod block_validate;
mod canonical_json;
mod envelope_decode;
mod fixtures;
mod input;
mod peer_frames;
mod raft_step;
mod tx_validate;

pub use block_validate::block_validate;
pub use canonical_json::canonical_json;
pub use envelope_decode::envelope_decode;
pub use peer_frames::peer_frames;
pub use raft_step::raft_step;
pub use tx_validate::tx_validate;

/// A target's body: bytes in, a panic when a property breaks.
pub type Body = fn(&[u8]);

/// Every target by name (the name of its corpus directory).
pub const TARGETS: &[(&str, Body)] = &[
    ("envelope_decode", envelope_decode),
    ("tx_validate", tx_validate),
    ("block_validate", block_validate),
    ("raft_step", raft_step),
    ("canonical_json", canonical_json),
    ("peer_frames", peer_frames),
];
