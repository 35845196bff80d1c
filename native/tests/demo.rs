//! `miniledger demo`: three Raft validators come up on loopback, elect a leader, and the sample
//! transactions it feeds commit on all three; SIGTERM stops the whole cluster.

mod common;

use common::{wait_until, BIN};
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// A base port with the next two also free (held while checking).
fn three_free_ports() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        if base > 65_000 {
            continue;
        }
        let rest: Vec<_> = (1..3)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no three consecutive free ports");
}

fn height(api: &str) -> Option<(u64, String)> {
    let status: serde_json::Value = ureq::get(&format!("{api}/status"))
        .call()
        .ok()?
        .into_json()
        .ok()?;
    Some((
        status["height"].as_u64()?,
        status["tipHash"].as_str()?.to_string(),
    ))
}

#[test]
fn the_demo_cluster_runs_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (api, p2p) = (three_free_ports(), three_free_ports());
    let mut demo = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(dir.path())
        .args([
            "--api-port",
            &api.to_string(),
            "--p2p-port",
            &p2p.to_string(),
        ])
        .args(["--tx-interval-ms", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let apis: Vec<String> = (0..3)
        .map(|i| format!("http://127.0.0.1:{}", api + i))
        .collect();
    wait_until("the demo's sample transactions commit", || {
        height(&apis[0]).is_some_and(|(h, _)| h >= 5)
    });
    // All three hold the same chain.
    let (h, tip) = height(&apis[0]).unwrap();
    for other in &apis[1..] {
        wait_until("followers reach the same block", || {
            let block: Option<serde_json::Value> = ureq::get(&format!("{other}/blocks/{h}"))
                .call()
                .ok()
                .and_then(|r| r.into_json().ok());
            block.is_some_and(|b| b["hash"] == tip.as_str())
        });
    }
    let consensus: serde_json::Value = ureq::get(&format!("{}/consensus", apis[0]))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(consensus["validators"].as_array().unwrap().len(), 3);
    // The example contracts are deployed and called: balances and crates appear.
    let get = |path: &str| -> Option<serde_json::Value> {
        ureq::get(&format!("{}{path}", apis[0]))
            .call()
            .ok()?
            .into_json()
            .ok()
    };
    wait_until("the demo's contracts are deployed and used", || {
        let listed = get("/contracts").is_some_and(|c| c["count"] == 2);
        let used = |prefix: &str| {
            get(&format!("/state?prefix={prefix}")).is_some_and(|s| s["total"].as_u64() > Some(0))
        };
        listed && used("balance:") && used("product:")
    });

    let status = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(demo.wait().unwrap().success(), "the demo exits cleanly");
    let mut out = String::new();
    std::io::Read::read_to_string(demo.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(out.contains(&format!("open {}/", apis[0])), "{out}");
    for api in &apis {
        assert!(
            height(api).is_none(),
            "{api} still answers after the demo stopped"
        );
    }
}
