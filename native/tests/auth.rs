//! Authenticated membership over real sockets: real nodes prove their keys to each other, a
//! MiniLedger 0.2-style peer (no challenge) still connects but cannot take part in Raft, a
//! peer announcing a key it does not hold is refused, `--allowed-keys` keeps strangers and
//! unauthenticated peers out, and a 3-validator Raft cluster elects and commits with auth on.

mod common;

use common::raft::{await_leader, consensus, identities, start, start_three};
use common::raw_peer::{hello_full, RawPeer};
use common::{wait_until, NodeProcess, DEADLINE};
use miniledger_core::protocol::{AppendEntries, Message, RequestVote};
use miniledger_core::Keypair;
use serde_json::{json, Value};

/// The node's `/peers` entry for `node_id`, if connected.
fn peer(node: &NodeProcess, node_id: &str) -> Option<Value> {
    node.get_ok("/peers")["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nodeId"] == node_id)
        .cloned()
}

/// How often `node_id`'s record counts `offence`.
fn offences(node: &NodeProcess, node_id: &str, offence: &str) -> u64 {
    node.get_ok("/peers")["misbehaviour"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["nodeId"] == node_id)
        .and_then(|m| m["offences"][offence].as_u64())
        .unwrap_or(0)
}

#[test]
fn nodes_authenticate_each_other_and_0_2_peers_and_impostors_do_not() {
    let a = NodeProcess::start("A", None, &[]);
    let b = NodeProcess::start("B", Some(&a.p2p), &[]);
    let (a_id, b_id) = (a.node_id(), b.node_id());
    wait_until("A and B connected", || {
        peer(&a, &b_id).is_some() && peer(&b, &a_id).is_some()
    });
    assert_eq!(peer(&a, &b_id).unwrap()["authenticated"], true);
    assert_eq!(peer(&b, &a_id).unwrap()["authenticated"], true);
    let table = common::stdout(&a.cli(&["peers", "list"]));
    assert!(table.contains("AUTH") && table.contains("true"), "{table}");

    // A MiniLedger 0.2-style full peer: no challenge, still admitted, unauthenticated.
    let old = Keypair::from_seed([0x02; 32]);
    let mut old_peer = RawPeer::connect(&a.p2p);
    let ack = old_peer
        .handshake_with(&old, hello_full(&old, false, None))
        .expect("an answer");
    assert!(ack.accepted, "{:?}", ack.reason);
    assert!(ack.challenge.is_none() && ack.challenge_signature.is_none());
    wait_until("the 0.2 peer listed", || peer(&a, old.node_id()).is_some());
    assert_eq!(peer(&a, old.node_id()).unwrap()["authenticated"], false);

    // A peer announcing a key it does not hold: its proof fails, the socket is closed.
    let victim = Keypair::from_seed([0x0b; 32]);
    let impostor = Keypair::from_seed([0x0c; 32]);
    let mut fake = RawPeer::connect(&a.p2p);
    let ack = fake
        .authenticate(&victim, &impostor, false)
        .expect("an ACK");
    assert!(ack.accepted, "refused before the proof: {:?}", ack.reason);
    fake.expect_closed("the impostor", DEADLINE);
    wait_until("the refusal logged", || {
        a.log()
            .contains("HANDSHAKE_PROOF does not prove its publicKey")
    });
    assert!(peer(&a, victim.node_id()).is_none());
    // Not scored: the identity it claimed is the one it failed to prove.
    assert_eq!(a.get_ok("/peers")["misbehaviour"], json!([]));
    // A and B are unaffected.
    assert_eq!(peer(&a, &b_id).unwrap()["authenticated"], true);
}

#[test]
fn consensus_from_an_unauthenticated_validator_is_ignored_and_scored() {
    let (dirs, keys) = identities(1);
    // X is the second validator; only the test holds its key. With X absent, A cannot win an
    // election, and pre-vote keeps its term where it is.
    let x = Keypair::from_seed([0x0d; 32]);
    let validators = vec![keys[0].clone(), x.public_hex().to_string()];
    let a = start("A", dirs[0].path(), &validators, &[]);
    let term = || consensus(&a)["term"].as_u64().unwrap();
    let before = term();
    let vote = |term| {
        Message::RequestVote(RequestVote {
            term,
            candidate_id: x.node_id().into(),
            last_log_index: 100,
            last_log_term: 1,
            pre_vote: false,
        })
    };
    let append = |term, leader_id: &str| {
        Message::AppendEntries(AppendEntries {
            term,
            leader_id: leader_id.into(),
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            first_index: None,
            ..AppendEntries::default()
        })
    };

    // X as a 0.2 peer (no challenge): admitted, but its consensus messages count for nothing.
    let mut old = RawPeer::connect(&a.p2p);
    let ack = old
        .handshake_with(&x, hello_full(&x, false, None))
        .expect("an answer");
    assert!(ack.accepted, "{:?}", ack.reason);
    assert!(old.send(&x, vote(before + 50)));
    assert!(old.send(&x, append(before + 50, x.node_id())));
    wait_until("both messages scored", || {
        offences(&a, x.node_id(), "bogusConsensus") == 2
    });
    assert_eq!(
        term(),
        before,
        "an unauthenticated validator moved the term"
    );
    assert!(a
        .log()
        .contains("from an unauthenticated connection claiming a validator"));

    // The same key, authenticated: the vote request is taken (the term moves), which shows the
    // ignored messages were ignored for the connection, not for their content.
    let mut real = RawPeer::connect(&a.p2p);
    let ack = real.authenticate(&x, &x, false).expect("an ACK");
    assert!(ack.accepted, "{:?}", ack.reason);
    wait_until("X listed as authenticated", || {
        peer(&a, x.node_id()).is_some_and(|p| p["authenticated"] == true)
    });
    assert!(real.send(&x, vote(before + 50)));
    wait_until("the term taken from the authenticated vote request", || {
        term() == before + 50
    });
    // Authenticated but bogus: an AppendEntries naming another leader.
    assert!(real.send(&x, append(before + 60, &keys[0][..16])));
    wait_until("the bogus AppendEntries scored", || {
        offences(&a, x.node_id(), "bogusConsensus") == 3
    });
    assert_eq!(term(), before + 50);
    assert!(a.log().contains("is not the sender"));
}

#[test]
fn allowed_keys_admit_listed_authenticated_peers_only() {
    let (dirs, keys) = identities(1);
    let listed = Keypair::from_seed([0x11; 32]);
    let stranger = Keypair::from_seed([0x12; 32]);
    let allowed = format!("{},{}", keys[0], listed.public_hex());
    let n = NodeProcess::start("N", None, &["--allowed-keys", &allowed]);

    let refusal = |key: &Keypair, authenticate: bool| {
        let mut p = RawPeer::connect(&n.p2p);
        let ack = match authenticate {
            true => p.authenticate(key, key, false),
            false => p.handshake_with(key, hello_full(key, false, None)),
        }
        .expect("an answer");
        assert!(!ack.accepted);
        p.expect_closed("a refused peer", DEADLINE);
        ack.reason.unwrap()
    };
    let why = refusal(&stranger, true);
    assert!(
        why.contains("publicKey not in network.allowedKeys"),
        "{why}"
    );
    let why = refusal(&listed, false);
    assert!(why.contains("authentication required"), "{why}");

    let mut ok = RawPeer::connect(&n.p2p);
    let ack = ok.authenticate(&listed, &listed, false).expect("an ACK");
    assert!(ack.accepted, "{:?}", ack.reason);
    wait_until("the listed peer admitted", || {
        peer(&n, listed.node_id()).is_some_and(|p| p["authenticated"] == true)
    });
    // Light nodes only read and submit signed transactions: admitted unlisted.
    let _light = RawPeer::connect_as(&n.p2p, &stranger);
    wait_until("the light node admitted", || {
        peer(&n, stranger.node_id()).is_some_and(|p| p["light"] == true)
    });
    // A real node with a listed key joins, authenticated both ways.
    let m = NodeProcess::start_in("M", dirs[0].path(), Some(&n.p2p), &[]);
    let (m_id, n_id) = (m.node_id(), n.node_id());
    wait_until("M connected", || peer(&n, &m_id).is_some());
    assert_eq!(peer(&n, &m_id).unwrap()["authenticated"], true);
    assert_eq!(peer(&m, &n_id).unwrap()["authenticated"], true);
}

#[test]
fn raft_validators_authenticate_elect_and_commit() {
    let (dirs, keys) = identities(3);
    let [a, b, c] = start_three(&dirs, &keys);
    let nodes = [&a, &b, &c];
    let leader = await_leader(&nodes);
    let follower = (leader + 1) % 3;
    let (code, answer) = nodes[follower].post("/tx?wait=commit", &json!({"key": "k", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    for n in nodes {
        let view = n.get_ok("/peers");
        let peers = view["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 2, "{view}");
        assert!(peers.iter().all(|p| p["authenticated"] == true), "{view}");
        assert_eq!(view["misbehaviour"], json!([]), "{view}");
    }
}

/// A MiniLedger 0.2 node in Raft mode campaigns among every node it is connected to, ours
/// included. From an unauthenticated peer with its own (non-validator) key that is 0.2 being
/// 0.2: ignored (the term stays) and not scored, so it keeps its connection (and keeps syncing).
#[test]
fn a_02_style_non_validator_campaigning_is_ignored_not_scored() {
    let (dirs, keys) = identities(1);
    let x = Keypair::from_seed([0x0d; 32]);
    let validators = vec![keys[0].clone(), x.public_hex().to_string()];
    let a = start("A", dirs[0].path(), &validators, &[]);
    let term = || consensus(&a)["term"].as_u64().unwrap();
    let before = term();
    let old = Keypair::from_seed([0x0e; 32]);
    let mut old_peer = RawPeer::connect(&a.p2p);
    let ack = old_peer
        .handshake_with(&old, hello_full(&old, false, None))
        .expect("an answer");
    assert!(ack.accepted, "{:?}", ack.reason);
    for round in 1..=15 {
        let vote = Message::RequestVote(RequestVote {
            term: before + round,
            candidate_id: old.node_id().into(),
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
        });
        assert!(old_peer.send(&old, vote));
    }
    wait_until("the vote requests logged", || {
        a.log()
            .matches("not scored: MiniLedger 0.2 peers send this")
            .count()
            == 15
    });
    assert_eq!(term(), before, "a non-validator moved the term");
    assert_eq!(offences(&a, old.node_id(), "bogusConsensus"), 0);
    assert!(peer(&a, old.node_id()).is_some(), "still connected");
}
