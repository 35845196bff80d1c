//! Networks defined by their genesis (issue 14, first part), with real processes: `init` +
//! `start` with no flags makes a one-validator network that others `join` with no other flag;
//! `--genesis-hash` refuses another network; a node of another network is refused with the
//! reason; `genesis` + `start --genesis` forms a Raft network; a data directory stays with its
//! network.

mod common;

use common::raft::{await_leader, identities};
use common::raw_peer::{hello_full, RawPeer};
use common::{init_node, run_cli, stderr, stdout, wait_until, NodeProcess};
use miniledger_core::genesis::Genesis;
use miniledger_core::protocol::{Envelope, GenesisRequest, Message};
use miniledger_core::Keypair;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn genesis_hash_of(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("genesis.json")).expect("genesis.json");
    Genesis::parse(&text).unwrap().hash()
}

/// `miniledger join` with `args` (the peer first) on `data_dir`, on ports that cannot be bound,
/// until it exits by itself (killed after 30 s: the genesis fetch gives up after 10 s).
fn join_until_exit(args: &[&str], data_dir: &Path) -> Output {
    common::node_until_exit(&["join"], data_dir, args, Duration::from_secs(30))
}

fn peer_listed(node: &NodeProcess, node_id: &str) -> bool {
    node.peer_ids().iter().any(|p| p == node_id)
}

/// The issue's user story: A `init` + `start`, B and C `join ws://A` with nothing else. On
/// main's binary B refuses A's blocks (`block.proposer`) and stays at height 0.
#[test]
fn nodes_joining_with_no_flags_follow_and_verify_the_founders_chain() {
    let a_dir = tempfile::tempdir().unwrap();
    let a_key = init_node(a_dir.path());
    let a = NodeProcess::start_in("A", a_dir.path(), None, &[]);
    let before = a.post("/tx", &json!({"key": "before", "value": 1})).1;
    a.wait_committed(before["hash"].as_str().unwrap());

    let b_dir = tempfile::tempdir().unwrap();
    let b = NodeProcess::start_in("B", b_dir.path(), Some(&a.p2p), &[]);
    let c = NodeProcess::start("C", Some(&a.p2p), &[]);
    let after = a.post("/tx", &json!({"key": "after", "value": 2})).1;
    a.wait_committed(after["hash"].as_str().unwrap());
    let tip = a.tip();
    assert!(tip.0 >= 2, "{tip:?}");
    for n in [&b, &c] {
        wait_until(&format!("{} reaches A's tip {tip:?}", n.name), || {
            n.tip().0 >= tip.0
        });
        assert_eq!(n.tx_hashes(1..=tip.0), a.tx_hashes(1..=tip.0), "{}", n.name);
        let status = n.status();
        assert_eq!(status["syncing"], false, "{status}");
        assert_ne!(status["role"], "leader", "{status}");
        assert_eq!(status["validators"], json!([a_key]), "{status}");
        let network = genesis_hash_of(&a.data_dir);
        assert_eq!(genesis_hash_of(&n.data_dir), network, "{}", n.name);
        let log = n.log();
        assert!(
            log.contains("genesis trusted on first use") && log.contains(&network),
            "{}: {log}",
            n.name
        );
        assert!(!log.contains("block.proposer"), "{}: {log}", n.name);
    }
    // A transaction sent to a follower reaches A and commits everywhere.
    let via_b = b.post("/tx", &json!({"key": "via-b", "value": 3})).1;
    let hash = via_b["hash"].as_str().unwrap();
    for n in [&a, &b, &c] {
        n.wait_committed(hash);
    }
    // Restarted, B keeps its network without asking A again (its genesis.json).
    drop(b);
    let b = NodeProcess::start_in("B2", b_dir.path(), Some(&a.p2p), &[]);
    wait_until("B back at A's tip", || b.tip() == a.tip());
    assert!(!b.log().contains("trusted on first use"));
}

#[test]
fn a_wrong_genesis_hash_is_refused_and_nothing_is_stored() {
    let a = NodeProcess::start("A", None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wrong = "ab".repeat(32);
    let out = join_until_exit(&[&a.p2p, "--genesis-hash", &wrong], &data);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    let right = genesis_hash_of(&a.data_dir);
    assert!(
        err.contains("refusing to join") && err.contains(&wrong) && err.contains(&right),
        "{err}"
    );
    assert!(!data.join("genesis.json").exists());
    // The right hash joins.
    let b = NodeProcess::start_in("B", &data, Some(&a.p2p), &["--genesis-hash", &right]);
    wait_until("B connected to A", || peer_listed(&b, &a.node_id()));
}

#[test]
fn a_node_of_another_network_is_refused_with_the_reason() {
    let a = NodeProcess::start("A", None, &[]);
    let ours = genesis_hash_of(&a.data_dir);
    // Another network (its own one-validator genesis) dialing A: refused both ways, logged.
    let x = NodeProcess::start("X", None, &["--peers", &a.p2p]);
    let theirs = genesis_hash_of(&x.data_dir);
    assert_ne!(ours, theirs);
    wait_until("A logs the refusal", || a.log().contains("another network"));
    wait_until("X logs the refusal", || x.log().contains("another network"));
    assert!(!peer_listed(&a, &x.node_id()) && !peer_listed(&x, &a.node_id()));
    let line = a
        .log()
        .lines()
        .find(|l| l.contains("another network"))
        .unwrap()
        .to_string();
    assert!(line.contains(&ours) && line.contains(&theirs), "{line}");

    // The reason in the handshake refusal, to a peer announcing another hash.
    let key = Keypair::from_seed([7; 32]);
    let Message::Handshake(mut hello) = hello_full(&key, false, None) else {
        unreachable!()
    };
    hello.genesis_hash = Some("cd".repeat(32));
    let ack = RawPeer::connect(&a.p2p)
        .handshake_with(&key, Message::Handshake(hello.clone()))
        .expect("an ACK");
    assert!(!ack.accepted);
    let reason = ack.reason.unwrap();
    assert!(
        reason.contains("another network") && reason.contains(&ours),
        "{reason}"
    );
    assert_eq!(ack.genesis_hash.as_deref(), Some(ours.as_str()));
    // A peer announcing none (MiniLedger 0.2) and one announcing ours are admitted, unscored.
    for announced in [None, Some(ours.clone())] {
        let key = Keypair::from_seed([8 + announced.is_some() as u8; 32]);
        let Message::Handshake(mut hello) = hello_full(&key, false, None) else {
            unreachable!()
        };
        hello.genesis_hash = announced;
        let ack = RawPeer::connect(&a.p2p)
            .handshake_with(&key, Message::Handshake(hello))
            .expect("an ACK");
        assert!(ack.accepted, "{:?}", ack.reason);
    }
}

#[test]
fn the_genesis_is_served_before_any_handshake_and_over_rest() {
    let a = NodeProcess::start("A", None, &[]);
    let key = Keypair::from_seed([9; 32]);
    let mut raw = RawPeer::connect(&a.p2p);
    raw.send(&key, Message::GenesisRequest(GenesisRequest {}));
    let common::raw_peer::Next::Text(text) = raw.next(Duration::from_secs(10)) else {
        panic!("no answer")
    };
    let Message::GenesisResponse(response) = Envelope::decode(&text).unwrap().message else {
        panic!("{text}")
    };
    let served = Genesis::parse(&response.genesis.unwrap().to_string()).unwrap();
    assert_eq!(served.hash(), genesis_hash_of(&a.data_dir));
    raw.expect_closed("the socket after the answer", Duration::from_secs(10));
    // The same document over REST, for light nodes given only the hash.
    let rest = a.get_ok("/genesis");
    assert_eq!(rest["hash"], served.hash());
    assert_eq!(
        Genesis::parse(&rest["genesis"].to_string()).unwrap(),
        served
    );
}

#[test]
fn three_validators_form_a_raft_network_from_one_genesis_file() {
    let (dirs, keys) = identities(3);
    let out = run_cli(&[
        "genesis",
        "--validators",
        &keys.join(","),
        "--name",
        "three-orgs",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let document: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(document["consensus"], "raft");
    let file = dirs[0].path().join("network-genesis.json");
    std::fs::write(&file, stdout(&out)).unwrap();
    let hash = Genesis::parse(&stdout(&out)).unwrap().hash();
    assert!(stderr(&out).contains(&hash));
    let file = file.to_str().unwrap();

    let a = NodeProcess::start_in("A", dirs[0].path(), None, &["--genesis", file]);
    let b = NodeProcess::start_in(
        "B",
        dirs[1].path(),
        None,
        &["--genesis", file, "--peers", &a.p2p],
    );
    let c = NodeProcess::start_in(
        "C",
        dirs[2].path(),
        None,
        &["--genesis", file, "--peers", &a.p2p],
    );
    let nodes = [&a, &b, &c];
    let leader = await_leader(&nodes);
    let sent = nodes[leader]
        .post("/tx", &json!({"key": "k", "value": 1}))
        .1;
    for n in nodes {
        n.wait_committed(sent["hash"].as_str().unwrap());
        let mut validators: Vec<String> =
            serde_json::from_value(n.status()["validators"].clone()).unwrap();
        validators.sort();
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(validators, expected);
        assert_eq!(genesis_hash_of(&n.data_dir), hash);
    }
}

#[test]
fn a_data_dir_refuses_another_networks_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let key = init_node(dir.path());
    let node = NodeProcess::start_in("A", dir.path(), None, &[]);
    let hash = genesis_hash_of(dir.path());
    drop(node);
    let other = Keypair::from_seed([5; 32]);
    let out = run_cli(&[
        "genesis",
        "--validators",
        &format!("{key},{}", other.public_hex()),
    ]);
    let file = dir.path().join("other.json");
    std::fs::write(&file, stdout(&out)).unwrap();
    let out = common::start_until_exit(dir.path(), &["--genesis", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("belongs to network") && err.contains(&hash),
        "{err}"
    );
    assert_eq!(genesis_hash_of(dir.path()), hash, "genesis.json unchanged");
    // A bad genesis file is refused naming the field, before anything is created.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format":"miniledger-genesis/1","chainName":"x","consensus":"raft","validators":[]}"#,
    )
    .unwrap();
    let fresh = dir.path().join("fresh");
    let out = run_cli(&[
        "init",
        "--data-dir",
        fresh.to_str().unwrap(),
        "--genesis",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("validators: at least one"),
        "{}",
        stderr(&out)
    );
    assert!(!fresh.exists());
}

/// A peer that answers GENESIS_REQUEST with `answer` (a GENESIS_RESPONSE payload), or says
/// nothing; returns its address.
fn lying_peer(answer: Option<Value>) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Frame;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                    let _request = ws.next().await;
                    if let Some(payload) = answer {
                        let frame = json!({"version": 1, "type": "GENESIS_RESPONSE",
                            "from": "0000000000000000", "timestamp": 0, "payload": payload});
                        let _ = ws.send(Frame::Text(frame.to_string().into())).await;
                    }
                    // Hold the socket open: the joiner must give up by itself.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
            }
        });
    });
    format!("ws://127.0.0.1:{}", rx.recv().unwrap())
}

/// What a malicious or foreign peer may answer `join`: refused with the reason, nothing stored.
#[test]
fn join_refuses_a_bad_answer_and_stores_nothing() {
    let key = Keypair::from_seed([3; 32]).public_hex().to_string();
    let twice = json!({"genesis": {"format": "miniledger-genesis/1", "chainName": "x",
        "consensus": "raft", "validators": [key, key]}});
    let cases = [
        (Some(twice), "listed twice"),
        (
            Some(json!({"genesis": {"format": "miniledger-genesis/1"}})),
            "missing field",
        ),
        (Some(json!({"genesis": null})), "compat"),
        (None, "no answer within 10 s"),
    ];
    for (answer, expected) in cases {
        let address = lying_peer(answer);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = join_until_exit(&[&address], &data);
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("cannot fetch the genesis") && err.contains(expected),
            "{expected}: {err}"
        );
        assert!(!data.join("genesis.json").exists());
    }
}
