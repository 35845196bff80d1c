//! Malformed REST input against a real node: every bad request gets a 4xx with a JSON `error`,
//! the node stays up, and nothing is half-written (no block, no state, no pending entry).

mod common;

use common::{now_ms, NodeProcess};
use miniledger_core::{Keypair, PayloadBody, Transaction};
use serde_json::{json, Value};

/// POSTs raw bytes; the status and the body, which must be a JSON error.
fn post_bytes(node: &NodeProcess, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    try_post_bytes(node, path, content_type, body).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// [`post_bytes`], with a transport failure (the node closed the connection) as an error.
fn try_post_bytes(
    node: &NodeProcess,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    let result = ureq::post(&format!("{}{path}", node.api))
        .set("Content-Type", content_type)
        .set("Authorization", &format!("Bearer {}", node.token))
        .send_bytes(body);
    let (code, response) = match result {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(code, r)) => (code, r),
        Err(e) => return Err(e.to_string()),
    };
    let text = response.into_string().unwrap();
    let error: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    Ok((
        code,
        error["error"].as_str().expect("a JSON error").to_string(),
    ))
}

#[test]
fn malformed_requests_get_json_4xx_and_change_nothing() {
    let node = NodeProcess::start("api", None, &[]);
    let before = (node.tip(), node.get_ok("/state")["total"].clone());
    let key = Keypair::from_seed([50; 32]);
    let valid =
        Transaction::new_signed(&key, 0, now_ms(), PayloadBody::state_set("k", "1").unwrap());
    let mut bad_signature = serde_json::to_value(&valid).unwrap();
    bad_signature["signature"] = json!("00".repeat(64));
    let mut wrong_nonce_type = serde_json::to_value(&valid).unwrap();
    wrong_nonce_type["nonce"] = json!("zero");
    let big_value = format!("\"{}\"", "x".repeat(300 * 1024));
    let oversized = Transaction::new_signed(
        &key,
        0,
        now_ms(),
        PayloadBody::state_set("big", &big_value).unwrap(),
    );
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));

    let json = "application/json";
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "truncated JSON",
            json,
            br#"{"key": "a", "val"#.to_vec(),
            400,
        ),
        ("not UTF-8", json, vec![b'{', 0xff, 0xfe, b'}'], 400),
        ("empty body", json, Vec::new(), 400),
        ("JSON array", json, b"[1,2,3]".to_vec(), 400),
        (
            "key of the wrong type",
            json,
            br#"{"key": 5, "value": 1}"#.to_vec(),
            400,
        ),
        (
            "neither shape",
            json,
            br#"{"kee": "a", "value": 1}"#.to_vec(),
            400,
        ),
        ("nesting 10,000 deep", json, nested.into_bytes(), 400),
        ("body of 3 MiB", json, vec![b' '; 3 * 1024 * 1024], 413),
        ("not JSON content", "text/plain", b"{}".to_vec(), 415),
        (
            "forged signature",
            json,
            bad_signature.to_string().into_bytes(),
            400,
        ),
        (
            "nonce of the wrong type",
            json,
            wrong_nonce_type.to_string().into_bytes(),
            400,
        ),
        (
            "transaction over 256 KiB",
            json,
            serde_json::to_vec(&oversized).unwrap(),
            400,
        ),
    ];
    for (name, content_type, body, expected) in cases {
        if expected == 413 {
            // The node answers 413 from the Content-Length and stops reading: a client still
            // writing the body may see the connection reset before it reads the answer (seen
            // on a loaded machine). Either way the body was refused; nothing-written is
            // checked below.
            match try_post_bytes(&node, "/tx", content_type, &body) {
                Ok((code, error)) => assert_eq!(code, expected, "{name}: {error}"),
                Err(e) => eprintln!("{name}: connection closed while sending ({e})"),
            }
            continue;
        }
        let (code, error) = post_bytes(&node, "/tx", content_type, &body);
        assert_eq!(code, expected, "{name}: {error}");
        eprintln!("{name}: {code} {error}");
    }
    assert!(
        post_bytes(&node, "/tx", json, &serde_json::to_vec(&oversized).unwrap())
            .1
            .contains("tx.size")
    );

    // Nothing was written; the node still accepts a good transaction afterwards.
    assert_eq!((node.tip(), node.get_ok("/state")["total"].clone()), before);
    assert_eq!(node.status()["mempool"], 0);
    let (code, answer) = node.post("/tx", &serde_json::to_value(&valid).unwrap());
    assert_eq!(code, 202, "{answer}");
    node.wait_committed(&valid.hash);
}

/// A body refused for its Content-Type, arriving after the headers (as clients that write
/// headers and body separately send it): the 415 must leave the keep-alive connection usable.
/// Before, the answer went out before the body was read and the server closed the connection,
/// so the client's next request on it failed with an unexpected EOF (seen as a flaky
/// `api.rs` run).
#[test]
fn a_refused_body_leaves_the_keep_alive_connection_usable() {
    use std::io::{Read, Write};
    let node = NodeProcess::start("solo", None, &[]);
    let address = node.api.trim_start_matches("http://");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    socket
        .write_all(b"POST /tx HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    socket.write_all(b"{}").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let second = socket.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answers = Vec::new();
    let mut chunk = [0u8; 65536];
    while second.is_ok() && count(&answers, b"HTTP/1.1 ") < 2 {
        match socket.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answers.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answers);
    assert!(text.starts_with("HTTP/1.1 415"), "{text}");
    assert_eq!(
        (second.is_ok(), count(&answers, b"HTTP/1.1 200")),
        (true, 1),
        "the connection answers the next request: {text}"
    );
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
