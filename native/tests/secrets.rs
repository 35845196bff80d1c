//! What a stranger who reaches the API port can read or make the node sign, on a real node
//! process with a known key: the operator token guards signing, and neither the key (hex,
//! base64, raw) nor the token appears in any API answer, CLI output or log line.

mod common;

use base64::Engine;
use common::{now_ms, run_cli, stderr, stdout, NodeProcess};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use serde_json::json;

const SEED_HEX: &str = "4083a1b2c3d4e5f60718293a4b5c6d7e8f901122334455667788990abcdd7451";

/// Every encoding of the secrets a leak could take.
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    fn new(seed_hex: &str, token: &str) -> Secrets {
        let raw = miniledger_core::hex::decode::<32>(seed_hex).unwrap();
        let b64 = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ]
        .map(|engine| engine.encode(raw));
        let mut found = vec![
            ("seed hex".to_string(), seed_hex.as_bytes().to_vec()),
            ("seed HEX".into(), seed_hex.to_uppercase().into_bytes()),
            ("seed raw".into(), raw.to_vec()),
            ("operator token".into(), token.as_bytes().to_vec()),
        ];
        found.extend(
            b64.into_iter()
                .map(|b| ("seed base64".to_string(), b.into_bytes())),
        );
        Secrets(found)
    }

    fn assert_absent(&self, place: &str, bytes: &[u8]) {
        for (name, secret) in &self.0 {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
                "{name} found in {place}"
            );
        }
    }
}

fn get_text(url: &str) -> (u16, Vec<u8>) {
    let response = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = response.status();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    (status, body)
}

#[test]
fn signing_needs_the_operator_token_and_no_secret_leaves_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let init = run_cli(&["init", "--data-dir", data_arg]);
    assert!(init.status.success(), "{}", stderr(&init));
    let seed_file = dir.path().join("seed");
    std::fs::write(&seed_file, format!("{SEED_HEX}\n")).unwrap();
    let seed_arg = seed_file.to_str().unwrap();
    // init made a key: replacing it needs --force.
    let refused = run_cli(&["keys", "import", seed_arg, "--data-dir", data_arg]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    let import = run_cli(&[
        "keys",
        "import",
        seed_arg,
        "--data-dir",
        data_arg,
        "--force",
    ]);
    assert!(import.status.success(), "{}", stderr(&import));
    let public = Keypair::from_private_hex(SEED_HEX)
        .unwrap()
        .public_hex()
        .to_string();

    let node = NodeProcess::start_in("secrets", &data, None, &[]);
    assert_eq!(node.get_ok("/identity")["publicKey"], public.as_str());
    let secrets = Secrets::new(SEED_HEX, &node.token);

    // Making the node sign is the operator's power.
    for body in [
        json!({"key": "k", "value": 1}),
        json!({"type": "state:set", "payload": {"kind": "state:set", "key": "k", "value": 1}}),
    ] {
        let (code, answer) = node.post_anonymous("/tx", &body);
        assert_eq!(code, 401, "{body} -> {answer}");
        let reason = answer["error"].as_str().unwrap();
        assert!(reason.contains("Authorization: Bearer") && reason.contains("operator.token"));
    }
    let wrong = ureq::post(&format!("{}/tx", node.api))
        .set("Authorization", &format!("Bearer {}", "0".repeat(64)))
        .send_json(json!({"key": "k", "value": 1}));
    match wrong {
        Err(ureq::Error::Status(401, r)) => {
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        }
        other => panic!("a wrong token must get 401: {other:?}"),
    }
    let (code, answer) = node.post("/tx?wait=commit", &json!({"key": "k", "value": "v"}));
    assert_eq!(code, 200, "{answer}");
    let own_tx = answer["hash"].as_str().unwrap().to_string();
    // A transaction signed by its sender needs no token.
    let stranger = Keypair::from_seed([42; 32]);
    let body = PayloadBody::state_set("stranger", "1").unwrap();
    let signed = Transaction::new_signed(&stranger, 0, now_ms(), body);
    let (code, answer) = node.post_anonymous("/tx", &serde_json::to_value(&signed).unwrap());
    assert_eq!(code, 202, "{answer}");
    node.wait_committed(&signed.hash);

    // Every read endpoint, as anyone.
    let paths = [
        "/status".to_string(),
        "/identity".into(),
        "/peers".into(),
        "/consensus".into(),
        "/blocks".into(),
        "/blocks/latest".into(),
        "/blocks/0".into(),
        "/blocks/1".into(),
        "/tx/recent".into(),
        format!("/tx/{own_tx}"),
        format!("/tx/sender/{public}"),
        "/state".into(),
        "/state/k".into(),
        "/state/k?proof=true".into(),
        format!("/search?q={public}"),
        "/search?q=k".into(),
        "/".into(),
        "/no-such-page".into(),
    ];
    for path in &paths {
        let (status, body) = get_text(&format!("{}{path}", node.api));
        assert!(status < 500, "GET {path}: {status}");
        secrets.assert_absent(&format!("GET {path}"), &body);
    }
    for sql in [
        "SELECT * FROM meta",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM raft_state",
        "SELECT * FROM world_state",
        "SELECT * FROM blocks",
        "SELECT * FROM transactions",
    ] {
        let (code, answer) = node.post_anonymous("/state/query", &json!({ "sql": sql }));
        assert!(code == 200 || code == 400, "{sql}: {code}");
        secrets.assert_absent(sql, answer.to_string().as_bytes());
    }
    let (code, answer) = node.post_anonymous("/state/query", &json!({"sql": "SELECT * FROM meta"}));
    assert_eq!(code, 400, "{answer}");

    // Every CLI command but `keys export`.
    let show = run_cli(&["keys", "show", "--data-dir", data_arg]);
    assert!(stdout(&show).contains(&public), "{}", stdout(&show));
    let mut outputs = vec![("keys show", show)];
    for args in [
        vec!["status"],
        vec!["peers", "list"],
        vec!["query", "SELECT * FROM meta"],
        vec!["query", "SELECT key, value FROM world_state"],
        vec!["query", "--json", "SELECT * FROM blocks"],
        vec!["tx", "submit", r#"{"key": "from-cli", "value": 2}"#],
    ] {
        outputs.push((args[0], node.cli(&args)));
    }
    let submitted = &outputs.last().unwrap().1;
    assert!(
        submitted.status.success(),
        "the CLI sends the token: {}",
        stderr(submitted)
    );
    for (name, out) in &outputs {
        secrets.assert_absent(&format!("`{name}` stdout"), &out.stdout);
        secrets.assert_absent(&format!("`{name}` stderr"), &out.stderr);
    }
    // The one command that prints the key, because it is asked to.
    let export = run_cli(&["keys", "export", "--data-dir", data_arg]);
    assert_eq!(stdout(&export).trim(), SEED_HEX);

    // Nor in the node's log, nor in its database files.
    secrets.assert_absent("the node log", node.log().as_bytes());
    secrets.assert_absent("init's output", &init.stdout);
    for file in ["ledger.db", "ledger.db-wal", "miniledger.json"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            secrets.assert_absent(file, &bytes);
        }
    }
}
