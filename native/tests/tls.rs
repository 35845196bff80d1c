//! TLS on both ports, with real processes and a self-signed certificate (rcgen): the API over
//! https, P2P over wss (a node dialing `wss://` syncs and the mesh advertises the scheme), plain
//! clients on the TLS ports refused without harm, the CLI over https, and bad certificate or key
//! files stopping the node at start-up with a message naming the file.

mod common;

use common::raw_peer::RawPeer;
use common::{stderr, stdout, wait_until, NodeProcess, TestCert};
use miniledger_core::Keypair;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// nodeId → advertised address, from `/peers`.
fn addresses(node: &NodeProcess) -> Vec<(String, String)> {
    node.get_ok("/peers")["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (field("nodeId"), field("address"))
        })
        .collect()
}

#[test]
fn nodes_sync_over_wss_and_advertise_the_scheme() {
    let cert = TestCert::localhost();
    let a = NodeProcess::start_tls("a", &cert, None, &[]);
    assert!(a.api.starts_with("https://") && a.p2p.starts_with("wss://"));
    let validator = a.get_ok("/identity")["publicKey"]
        .as_str()
        .unwrap()
        .to_string();
    let mut last = String::new();
    for i in 0..5 {
        let (code, answer) = a.post("/tx", &json!({"key": format!("k{i}"), "value": i}));
        assert_eq!(code, 202, "{answer}");
        last = answer["hash"].as_str().unwrap().to_string();
    }
    let height = a.wait_committed(&last)["blockHeight"].as_u64().unwrap();

    // B serves the same certificate, so it trusts it with no CA configured.
    let b = NodeProcess::start_tls("b", &cert, Some(&a.p2p), &["--validators", &validator]);
    // C serves plain ws:// and trusts the certificate as its CA.
    let ca = cert.cert.to_str().unwrap();
    let c = NodeProcess::start(
        "c",
        Some(&a.p2p),
        &["--validators", &validator, "--tls-ca", ca],
    );
    for node in [&b, &c] {
        wait_until(&format!("{} synced over wss", node.name), || {
            node.status()["height"].as_u64() >= Some(height)
        });
    }
    assert_eq!(b.tip(), a.tip());
    assert_eq!(c.tip(), a.tip());

    // A advertises each peer with the scheme its P2P port speaks.
    let (b_id, c_id) = (b.node_id(), c.node_id());
    let b_port = b.p2p.rsplit(':').next().unwrap();
    let c_port = c.p2p.rsplit(':').next().unwrap();
    wait_until("a lists b (wss) and c (ws)", || {
        let listed = addresses(&a);
        listed.contains(&(b_id.clone(), format!("wss://127.0.0.1:{b_port}")))
            && listed.contains(&(c_id.clone(), format!("ws://127.0.0.1:{c_port}")))
    });
    // B and C found each other through A's PEER_LIST, whichever dialed: over wss if C did.
    wait_until("b and c connected", || {
        addresses(&b).iter().any(|(id, _)| *id == c_id)
            && addresses(&c).iter().any(|(id, _)| *id == b_id)
    });
}

#[test]
fn plain_clients_on_tls_ports_fail_and_the_node_keeps_serving() {
    let cert = TestCert::localhost();
    let node = NodeProcess::start_tls("tls", &cert, None, &[]);
    let plain_api = node.api.replace("https://", "http://");
    let plain_p2p = node.p2p.replace("wss://", "ws://");
    // Sockets that connect and never start their TLS handshake hold up no one.
    let _stalled: Vec<std::net::TcpStream> = [&plain_api[7..], &plain_p2p[5..]]
        .iter()
        .map(|addr| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let started = Instant::now();

    for _ in 0..3 {
        // Plain HTTP to the https port: the TLS handshake fails, no HTTP answer comes back.
        let plain = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build()
            .get(&format!("{plain_api}/status"))
            .call();
        assert!(
            matches!(plain, Err(ureq::Error::Transport(_))),
            "plain HTTP on the TLS port got an answer: {plain:?}"
        );
        // Plain WebSocket to the wss port.
        let refused = RawPeer::try_connect(&plain_p2p, None).err();
        assert!(refused.is_some(), "a plain ws:// upgrade succeeded");
        // A client that does not trust the certificate (public roots only) is refused.
        let untrusted = RawPeer::try_connect(&node.p2p, None)
            .err()
            .unwrap_or_default();
        assert!(untrusted.contains("certificate"), "{untrusted}");
    }

    // Still serving: https and wss with the certificate trusted.
    assert_eq!(node.status()["height"], 0);
    let key = Keypair::from_seed([7; 32]);
    let mut peer = RawPeer::try_connect(&node.p2p, Some(&cert.cert)).unwrap();
    let ack = peer.handshake(&key).expect("a HANDSHAKE_ACK over wss");
    assert!(ack.accepted, "{:?}", ack.reason);
    // Well under the 10 s a stalled handshake may take: nobody waited for the stalled sockets.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !node.log().contains("panicked"),
        "node log:\n{}",
        node.log()
    );
}

#[test]
fn cli_talks_to_an_https_api() {
    let cert = TestCert::localhost();
    let node = NodeProcess::start_tls("cli", &cert, None, &[]);
    // `cli` passes --ca with the node's certificate.
    let status = node.cli(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains(&node.node_id()),
        "{}",
        stdout(&status)
    );
    let submit = node.cli(&["tx", "submit", r#"{"key": "over-tls", "value": 1}"#]);
    assert!(submit.status.success(), "{}", stderr(&submit));
    let hash = serde_json::from_str::<Value>(&stdout(&submit)).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    node.wait_committed(&hash);

    // Without --ca the self-signed certificate is not trusted: a clear error, exit 1.
    let untrusted = common::run_cli(&["status", "--api", &node.api]);
    assert!(!untrusted.status.success());
    let message = stderr(&untrusted);
    assert!(
        message.contains("cannot reach the node API") && message.contains("certificate"),
        "{message}"
    );
}

/// `miniledger start` with `args` must exit with an error; returns its stderr.
fn start_fails(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = common::start_until_exit(&dir.path().join("data"), args);
    assert!(
        !output.status.success(),
        "the node did not fail on {args:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_certificate_or_key_files_stop_the_node_at_start() {
    let cert = TestCert::localhost();
    let other = TestCert::localhost();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (cert_file, key_file) = (path(&cert.cert), path(&cert.key));

    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![
                "--tls-cert".into(),
                path(&missing),
                "--tls-key".into(),
                key_file.clone(),
            ],
            vec![path(&missing), "cannot read".into()],
        ),
        (
            vec![
                "--tls-cert".into(),
                path(&garbage),
                "--tls-key".into(),
                key_file.clone(),
            ],
            vec![path(&garbage), "no PEM certificate".into()],
        ),
        (
            vec![
                "--tls-cert".into(),
                cert_file.clone(),
                "--tls-key".into(),
                path(&garbage),
            ],
            vec![path(&garbage), "no PEM private key".into()],
        ),
        (
            // A key that is not the certificate's.
            vec![
                "--tls-cert".into(),
                cert_file.clone(),
                "--tls-key".into(),
                path(&other.key),
            ],
            vec![cert_file.clone(), "do not make a usable pair".into()],
        ),
        (
            vec!["--tls-cert".into(), cert_file.clone()],
            vec!["--tls-cert".into(), "--tls-key".into()],
        ),
        (
            vec!["--tls-ca".into(), path(&garbage)],
            vec![path(&garbage), "no PEM certificate".into()],
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let message = start_fails(&args);
        for part in &expected {
            assert!(
                message.contains(part),
                "{args:?}: {part:?} not in {message}"
            );
        }
    }
}
