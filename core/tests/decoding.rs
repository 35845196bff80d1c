//! Decoding: unknown fields are ignored, missing or mistyped fields are errors that name the
//! field, unknown message types are told apart from malformed known ones.

use miniledger_core::protocol::{Envelope, Message, MessageError};
use miniledger_core::{Keypair, PayloadBody, Transaction};

fn tx() -> Transaction {
    let key = Keypair::from_seed([7; 32]);
    Transaction::new_signed(
        &key,
        0,
        1_700_000_000_000,
        PayloadBody::state_set("k", r#"{"a":1}"#).unwrap(),
    )
}

fn broadcast_frame(tx_json: &str) -> String {
    format!(
        r#"{{"version":1,"type":"TX_BROADCAST","from":"0011223344556677","timestamp":1,"payload":{{"transaction":{tx_json}}}}}"#
    )
}

fn payload_error(frame: &str) -> String {
    match Envelope::decode(frame) {
        Err(MessageError::Payload { error, .. }) => error.to_string(),
        other => panic!("expected a payload error, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let mut value = serde_json::to_value(tx()).unwrap();
    value["extraTopLevel"] = serde_json::json!({"anything": [1, 2]});
    let frame = broadcast_frame(&value.to_string())
        .replace(r#""version":1,"#, r#""version":1,"futureField":true,"#);
    let env = Envelope::decode(&frame).unwrap();
    let Message::TxBroadcast(m) = env.message else {
        panic!()
    };
    assert_eq!(m.transaction, tx());
}

#[test]
fn missing_field_is_named() {
    let mut value = serde_json::to_value(tx()).unwrap();
    value.as_object_mut().unwrap().remove("nonce");
    let err = payload_error(&broadcast_frame(&value.to_string()));
    assert_eq!(err, "payload.transaction: missing field `nonce`");
}

#[test]
fn mistyped_field_is_named() {
    let mut value = serde_json::to_value(tx()).unwrap();
    value["nonce"] = serde_json::json!("zero");
    let err = payload_error(&broadcast_frame(&value.to_string()));
    assert!(
        err.starts_with("payload.transaction.nonce: invalid type: string \"zero\""),
        "{err}"
    );
    value["nonce"] = serde_json::json!(-1);
    let err = payload_error(&broadcast_frame(&value.to_string()));
    assert!(
        err.starts_with("payload.transaction.nonce: invalid value: integer `-1`"),
        "{err}"
    );
}

#[test]
fn payload_fields_are_checked_per_kind() {
    let mut value = serde_json::to_value(tx()).unwrap();
    value["payload"] = serde_json::json!({"kind": "state:set", "value": 1});
    let err = payload_error(&broadcast_frame(&value.to_string()));
    assert!(
        err.contains("payload.transaction.payload") && err.contains("missing field `key`"),
        "{err}"
    );
    value["payload"] =
        serde_json::json!({"kind": "governance:vote", "proposalId": "p", "vote": "yes"});
    let err = payload_error(&broadcast_frame(&value.to_string()));
    assert!(
        err.contains("vote: invalid type: string \"yes\", expected a boolean"),
        "{err}"
    );
    value["payload"] =
        serde_json::json!({"kind": "contract:invoke", "contract": "c", "method": "m", "args": 5});
    assert!(payload_error(&broadcast_frame(&value.to_string())).contains("args: expected an array"));
    value["payload"] = serde_json::json!({"kind": "state:teleport", "key": "k"});
    assert!(payload_error(&broadcast_frame(&value.to_string()))
        .contains("unknown payload kind \"state:teleport\""));
}

#[test]
fn unknown_type_is_distinguished() {
    let frame = r#"{"version":99,"type":"GOSSIP_V2","from":"aa","timestamp":1,"payload":{}}"#;
    assert_eq!(
        Envelope::decode(frame),
        Err(MessageError::UnknownType("GOSSIP_V2".into()))
    );
}

#[test]
fn malformed_envelopes() {
    for (frame, expect) in [
        ("not json", "expected ident"),
        (
            r#"{"version":1,"type":"PING","timestamp":1,"payload":{"chainHeight":1}}"#,
            "missing field `from`",
        ),
        (
            r#"{"version":1,"type":"PING","from":"a","timestamp":1,"payload":{"chainHeight":1}} x"#,
            "trailing characters",
        ),
        (
            r#"{"version":1,"type":"PING","from":"a","timestamp":1.5,"payload":{"chainHeight":1}}"#,
            "timestamp: invalid type",
        ),
    ] {
        match Envelope::decode(frame) {
            Err(MessageError::Envelope(e)) => {
                assert!(e.to_string().contains(expect), "{frame}: {e}")
            }
            other => panic!("{frame}: {other:?}"),
        }
    }
    let err = payload_error(
        r#"{"version":1,"type":"PING","from":"a","timestamp":1,"payload":{"chainHeight":"high"}}"#,
    );
    assert!(
        err.starts_with("payload.chainHeight: invalid type"),
        "{err}"
    );
}
