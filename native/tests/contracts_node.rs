//! Smart contracts on real processes: three Raft validators execute every contract call, reach
//! the same state root and serve the same receipts; deploys and calls through REST and the CLI;
//! failed calls are committed with a named failed receipt and leave state untouched; hostile
//! contracts (an endless loop, a memory bomb, endless recursion, 0.2's sandbox escape) are
//! refused by name while the nodes keep serving with bounded memory.

mod common;

use common::raft::{await_leader, identities, start_three};
use common::{wait_until, NodeProcess};
use serde_json::{json, Value};

const TOKEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/contracts/token.js"
);

const HOSTILE: &str = r#"return {
  loop(ctx) { while (true) {} },
  bomb(ctx) { let s = "x"; for (;;) s = s + s; },
  deep(ctx) { function f() { return f(); } return f(); },
  escape(ctx) { return ({}).constructor.constructor("return process")(); },
  writeThenThrow(ctx) { ctx.set("hostile:x", 1); throw new Error("boom"); },
  clock(ctx) { return typeof Date + " " + typeof Math.random; }
}"#;

fn contract_tx(payload: Value) -> Value {
    json!({"type": payload["kind"].clone(), "payload": payload})
}

fn invoke(contract: &str, method: &str, args: Value) -> Value {
    contract_tx(
        json!({"kind": "contract:invoke", "contract": contract, "method": method, "args": args}),
    )
}

/// POST /tx?wait=commit; the answer, which must be 200 with a receipt.
fn committed(node: &NodeProcess, body: &Value) -> Value {
    let (code, answer) = node.post("/tx?wait=commit", body);
    assert_eq!(code, 200, "{}: {body} -> {answer}", node.name);
    assert!(answer["receipt"].is_object(), "no receipt: {answer}");
    answer
}

/// POST /tx, then polls `GET /tx/:hash` until committed (the first contract call builds each
/// node's engine: in a debug build on a loaded machine that can outlast the client's 10 s).
fn polled(node: &NodeProcess, body: &Value) -> Value {
    let (code, answer) = node.post("/tx", body);
    assert_eq!(code, 202, "{}: {body} -> {answer}", node.name);
    let tx = node.wait_committed(answer["hash"].as_str().unwrap());
    assert!(tx["receipt"].is_object(), "no receipt: {tx}");
    tx
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn three_validators_execute_contracts_agree_on_results_and_refuse_hostile_ones() {
    let (dirs, keys) = identities(3);
    let [a, b, c] = start_three(&dirs, &keys);
    let nodes = [&a, &b, &c];
    await_leader(&nodes);

    // A first deploy through REST on C, polled ...
    let deployed = polled(
        &c,
        &contract_tx(
            json!({"kind": "contract:deploy", "name": "hostile", "version": "1", "code": HOSTILE}),
        ),
    );
    assert_eq!(deployed["receipt"]["status"], "success", "{deployed}");
    // ... then through the CLI on B (signed by B with its operator token).
    let out = b.cli(&[
        "contract",
        "deploy",
        TOKEN,
        "--name",
        "token",
        "--version",
        "1.0.0",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""status": "success""#), "{stdout}");

    // B mints through the CLI (arguments as JSON), then transfers through REST on A: the call
    // is signed by A, which holds nothing, so it fails; B's transfer succeeds.
    let out = b.cli(&["contract", "invoke", "token", "mint", "100"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(r#""result": 100"#), "{stdout}");
    let broke = committed(&a, &invoke("token", "transfer", json!(["bob", 30])));
    assert_eq!(broke["receipt"]["status"], "failed");
    assert_eq!(
        broke["receipt"]["error"],
        "contract.exception: insufficient balance"
    );
    let paid = committed(&b, &invoke("token", "transfer", json!(["bob", 30])));
    assert_eq!(paid["receipt"]["status"], "success", "{paid}");
    assert!(paid["receipt"]["logs"][0]
        .as_str()
        .unwrap()
        .starts_with("transfer 30 from"));
    // A failed call through the CLI: exit status 1, the reason named.
    let out = b.cli(&["contract", "invoke", "token", "transfer", "bob", "1000000"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("contract.exception: insufficient balance"),
        "{stderr}"
    );

    // Hostile calls: each a committed transaction with a failed receipt naming the limit.
    for (method, expected) in [
        ("loop", "contract.out-of-gas"),
        ("bomb", "contract.memory"),
        ("deep", "contract.stack"),
        ("escape", "contract.exception: dynamic code is disabled"),
        ("writeThenThrow", "contract.exception: boom"),
        ("nope", "contract.method-not-found"),
    ] {
        let answer = committed(&c, &invoke("hostile", method, json!([])));
        assert_eq!(answer["receipt"]["error"], expected, "{method}: {answer}");
        assert!(answer["blockHeight"].as_u64().unwrap() > 0);
    }
    let clock = committed(&c, &invoke("hostile", "clock", json!([])));
    assert_eq!(clock["receipt"]["result"], "undefined undefined");
    let missing = committed(&a, &invoke("ghost", "m", json!([])));
    assert_eq!(missing["receipt"]["error"], "contract.not-found");
    // The failed call's write was dropped.
    assert_eq!(c.get("/state/hostile:x").0, 404);
    // State keys only execution writes are refused to state:set (named rule).
    let (code, answer) = a.post("/tx", &json!({"key": "_receipt:forged", "value": 1}));
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("tx.reserved-key"));

    // The chain goes on: a plain write after all that commits on every node.
    let (code, last) = a.post("/tx?wait=commit", &json!({"key": "after", "value": 2}));
    assert_eq!(code, 200, "{last}");
    assert!(
        last.get("receipt").is_none(),
        "no receipt for a state:set: {last}"
    );
    let height = last["blockHeight"].as_u64().unwrap();

    // Every node holds the same blocks and state root, and serves the same receipts.
    let block = a.get_ok(&format!("/blocks/{height}"));
    for node in nodes {
        wait_until(&format!("{} reaches height {height}", node.name), || {
            node.status()["height"].as_u64() >= Some(height)
        });
        let theirs = node.get_ok(&format!("/blocks/{height}"));
        assert_eq!(theirs["hash"], block["hash"], "{}", node.name);
        assert_eq!(theirs["stateRoot"], block["stateRoot"], "{}", node.name);
        let tx = node.get_ok(&format!("/tx/{}", broke["hash"].as_str().unwrap()));
        assert_eq!(tx["receipt"], broke["receipt"], "{}", node.name);
        assert_eq!(node.get_ok("/state/balance:bob")["value"], 30);
        let listed = node.get_ok("/contracts");
        assert_eq!(listed["count"], 2, "{listed}");
        let token = node.get_ok("/contracts/token");
        assert_eq!(token["code"], std::fs::read_to_string(TOKEN).unwrap());
        assert_eq!(token["version"], "1.0.0");
        assert_eq!(token["deployedBy"], keys[1].as_str());
    }
    assert_ne!(block["stateRoot"], "0".repeat(64));
    // A receipt is a state entry, provable under the block's root.
    let receipt_key = format!("_receipt:{}", paid["hash"].as_str().unwrap());
    let proved = a.get_ok(&format!("/state/{receipt_key}?proof=true"));
    assert_eq!(proved["value"]["status"], "success", "{proved}");
    assert!(proved["proof"].is_object(), "{proved}");
    assert_eq!(c.get("/contracts/ghost").0, 404);
    // The memory bomb left no lasting mark (each node holds well under what it would build).
    for node in nodes {
        let rss = rss_kib(node.pid());
        assert!(rss < 400 * 1024, "{}: RSS {rss} KiB", node.name);
    }
}
