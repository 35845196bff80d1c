//! The fuzz targets' bodies. They live in `bodies/` so that core's stable test
//! (`core/tests/fuzz_corpus.rs`) can include the very same code and replay the stored corpus
//! and every fixed crash without a fuzzer.

mod bodies;
pub use bodies::*;
