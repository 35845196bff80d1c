//! Any text through `canonicalize`: never panics; the output is a fixed point; and it means
//! what the input meant (checked with serde_json wherever serde_json can read the input; it
//! cannot hold lone surrogates or numbers beyond f64, which canonical JSON writes as null).

use miniledger_core::canonical::canonicalize;
use serde_json::Value;

pub fn canonical_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed: Result<Value, _> = serde_json::from_str(text);
    match canonicalize(text) {
        Ok(canonical) => {
            assert_eq!(
                canonicalize(&canonical).as_deref(),
                Ok(canonical.as_str()),
                "canonical form is not a fixed point"
            );
            if let Ok(input) = parsed {
                let output: Value = serde_json::from_str(&canonical)
                    .unwrap_or_else(|e| panic!("canonical output unreadable: {e}\n{canonical}"));
                assert!(
                    same(&without_proto(input.clone()), &output),
                    "meaning changed:\n in: {input}\nout: {canonical}"
                );
            }
        }
        Err(e) => {
            assert!(
                e.offset <= text.len(),
                "error offset {} past the end",
                e.offset
            );
            if let Ok(input) = parsed {
                panic!("canonicalize rejects what serde_json reads ({e}): {input}");
            }
        }
    }
}

/// JavaScript's `JSON.parse` + object rebuild drops `__proto__` members (see canonical.rs).
fn without_proto(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k != "__proto__")
                .map(|(k, v)| (k, without_proto(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_proto).collect()),
        other => other,
    }
}

/// Equality with numbers compared as the doubles JavaScript holds.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
