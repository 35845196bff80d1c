//! Soak: three Raft validators under steady load for `DURATION` seconds (default 1,800), the
//! leader killed -9 and restarted every `KILL_EVERY` seconds (default 60). Every node's RSS,
//! open file descriptors and connected peers are sampled every `SAMPLE_EVERY` seconds; the
//! report gives them per node, says whether they stayed flat, and runs the fault checker.
//! Long: ignored by `cargo test`; run by `scripts/soak.sh`.

mod common;

use common::loaded::LoadedCluster;
use common::raft::ELECTION;
use common::DEADLINE;
use std::time::{Duration, Instant};

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?}: seconds"))
            })
            .unwrap_or(default),
    )
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    rss_kb: u64,
    fds: u64,
    peers: u64,
}

/// VmRSS (kB) and open fds of a process, from /proc.
fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

fn max_of(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> u64 {
    samples.iter().map(f).max().unwrap_or(0)
}

#[test]
#[ignore = "long: scripts/soak.sh"]
fn soak_with_a_leader_kill_every_minute() {
    let duration = env_secs("DURATION", 1_800);
    let kill_every = env_secs("KILL_EVERY", 60);
    let sample_every = env_secs("SAMPLE_EVERY", 5);
    let started = Instant::now();
    let mut cluster = LoadedCluster::start();
    cluster.load(4, Duration::from_millis(10));
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); 3];
    let mut next_kill = kill_every;
    let mut next_sample = Duration::ZERO;
    let mut kills = 0;
    let mut stalls = 0;
    let mut recoveries = Vec::new();
    while started.elapsed() < duration {
        let now = started.elapsed();
        if now >= next_sample {
            next_sample += sample_every;
            for (i, series) in samples.iter_mut().enumerate() {
                let (Some(pid), Some(node)) = (cluster.pid(i), cluster.node(i)) else {
                    continue;
                };
                let Some((rss_kb, fds)) = proc_sample(pid) else {
                    continue;
                };
                let peers = node.get_ok("/peers")["count"].as_u64().unwrap_or(0);
                series.push(Sample {
                    at: now,
                    rss_kb,
                    fds,
                    peers,
                });
            }
        }
        if now >= next_kill {
            next_kill += kill_every;
            let leader = cluster.await_leader(ELECTION);
            let killed = Instant::now();
            cluster.kill(leader);
            // See fault_kill.rs: the survivors may elect no leader until the killed node returns.
            if cluster.try_await_leader(2 * ELECTION).is_none() {
                stalls += 1;
                eprintln!(
                    "[{:>5}s] STALLED: no leader until the killed node is back",
                    now.as_secs()
                );
            }
            cluster.restart(leader);
            cluster.await_leader(2 * ELECTION);
            cluster.await_caught_up(leader, DEADLINE);
            recoveries.push(killed.elapsed());
            kills += 1;
            eprintln!(
                "[{:>5}s] killed leader {leader}, back and caught up in {:?}; {} requests sent",
                now.as_secs(),
                killed.elapsed(),
                cluster.sent()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.stop_load_and_settle(DEADLINE);
    let report = cluster.check();

    println!(
        "SOAK REPORT duration={duration:?} leader_kills={kills} stalls={stalls} restarts={}",
        cluster.restarts()
    );
    println!(
        "recovery (kill -> new leader -> restarted node caught up): max {:?}",
        recoveries.iter().max()
    );
    println!("node  rss_kb(first/last/max)  rss_max(first third/last third)  fds(first/last/max)  peers(min/max)  samples");
    let mut flat = true;
    for (i, series) in samples.iter().enumerate() {
        if series.is_empty() {
            continue;
        }
        let third = duration / 3;
        let early: Vec<Sample> = series.iter().copied().filter(|s| s.at < third).collect();
        let late: Vec<Sample> = series
            .iter()
            .copied()
            .filter(|s| s.at >= duration - third)
            .collect();
        let (early_rss, late_rss) = (max_of(&early, |s| s.rss_kb), max_of(&late, |s| s.rss_kb));
        let (early_fds, late_fds) = (max_of(&early, |s| s.fds), max_of(&late, |s| s.fds));
        // Flat: the last third's peak within 25 % (RSS) / 10 fds of the first third's.
        flat &= late_rss <= early_rss + early_rss / 4 && late_fds <= early_fds + 10;
        let (first, last) = (series[0], series[series.len() - 1]);
        println!(
            "{}     {}/{}/{}    {}/{}    {}/{}/{}    {}/{}    {}",
            ["A", "B", "C"][i],
            first.rss_kb,
            last.rss_kb,
            max_of(series, |s| s.rss_kb),
            early_rss,
            late_rss,
            first.fds,
            last.fds,
            max_of(series, |s| s.fds),
            series.iter().map(|s| s.peers).min().unwrap_or(0),
            max_of(series, |s| s.peers),
            series.len()
        );
    }
    println!(
        "memory and descriptors flat: {}",
        if flat { "yes" } else { "NO" }
    );
    println!(
        "SOAK SUMMARY {} elapsed={:?}",
        report.summary(),
        started.elapsed()
    );
    report.assert_clean();
    assert!(flat, "memory or descriptors grew");
}
