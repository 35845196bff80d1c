//! Replays every stored fuzz input on stable, without a fuzzer: the kept corpus
//! (`fuzz/corpus/<target>/`) and every input that once crashed (`fuzz/regressions/<target>/`)
//! through the same target bodies cargo-fuzz runs (`fuzz/src/bodies/`, included here by path).
//! A body panics when a property breaks, so a regression fails this test.

#[allow(dead_code)]
#[path = "../../fuzz/src/bodies/mod.rs"]
mod bodies;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind);
    let mut total = 0;
    for (target, body) in bodies::TARGETS {
        let started = std::time::Instant::now();
        let paths = files(&root.join(target));
        for path in &paths {
            let data = std::fs::read(path).expect("readable input");
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(run.is_ok(), "{target}: {} fails", path.display());
        }
        total += paths.len();
        let ms = started.elapsed().as_millis();
        eprintln!("{kind}/{target}: {} inputs in {ms} ms", paths.len());
    }
    total
}

#[test]
fn kept_corpus_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, _) in bodies::TARGETS {
        let n = files(&root.join(target)).len();
        assert!(
            n > 0,
            "no corpus kept for {target} (scripts/fuzz.sh writes it)"
        );
    }
    replay("corpus");
}

#[test]
fn fixed_crashes_stay_fixed() {
    replay("regressions");
}
