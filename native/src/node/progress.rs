//! Progress of a long sync: a progress bar when stderr is a terminal, otherwise a log line every
//! few seconds (so service logs stay readable). Short catch-ups show nothing.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Syncs shorter than this many blocks are not worth a progress display.
const LONG_SYNC_BLOCKS: u64 = 500;
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct SyncProgress {
    run: Option<Run>,
}

struct Run {
    started: Instant,
    from: u64,
    last_log: Instant,
    bar: Option<ProgressBar>,
}

impl SyncProgress {
    /// Reports the applied `height` against the best known `target`.
    pub fn update(&mut self, height: u64, target: u64) {
        if target <= height {
            return self.finish(height);
        }
        let run = match &mut self.run {
            Some(run) => run,
            None if target - height >= LONG_SYNC_BLOCKS => {
                self.run.insert(Run::start(height, target))
            }
            None => return,
        };
        if let Some(bar) = &run.bar {
            bar.set_length(target);
            bar.set_position(height);
        } else if run.last_log.elapsed() >= LOG_EVERY {
            run.last_log = Instant::now();
            let rate = (height - run.from) as f64 / run.started.elapsed().as_secs_f64().max(0.001);
            tracing::info!(target: "sync", "syncing: {height}/{target} blocks ({rate:.0} blocks/s)");
        }
    }

    fn finish(&mut self, height: u64) {
        if let Some(run) = self.run.take() {
            if let Some(bar) = run.bar {
                bar.finish_and_clear();
            }
            let secs = run.started.elapsed().as_secs_f64();
            tracing::info!(target: "sync", "synced {} blocks to height {height} in {secs:.1} s", height - run.from);
        }
    }
}

impl Run {
    fn start(height: u64, target: u64) -> Run {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(target);
            bar.set_position(height);
            bar.set_style(
                ProgressStyle::with_template(
                    "syncing {bar:40} {pos}/{len} blocks  {per_sec}  eta {eta}",
                )
                .expect("static template"),
            );
            bar
        });
        Run {
            started: Instant::now(),
            from: height,
            last_log: Instant::now(),
            bar,
        }
    }
}
