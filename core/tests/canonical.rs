//! Canonical JSON against the MiniLedger 0.2 vectors, plus grammar, number and string-writer checks.

use miniledger_core::canonical::{
    canonicalize, canonicalize_into, write_f64, write_string, write_u64, CanonicalError,
};
use sha2::{Digest, Sha256};

const VECTORS: &str = include_str!("vectors/canonical.json");

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn all_vectors_byte_identical() {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 53);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let expected = case["output"].as_str().unwrap();
        let got = canonicalize(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "case {name}");
        assert_eq!(
            sha256_hex(&got),
            case["output_sha256"].as_str().unwrap(),
            "sha of case {name}"
        );
        // Canonical output is a fixed point.
        assert_eq!(canonicalize(&got).unwrap(), got, "idempotence of {name}");
    }
}

#[test]
fn canonicalize_into_appends() {
    let mut out = String::from("prefix:");
    canonicalize_into(r#"{"b":1,"a":[2,{"d":0,"c":1}]}"#, &mut out).unwrap();
    assert_eq!(out, r#"prefix:{"a":[2,{"c":1,"d":0}],"b":1}"#);
    // On error the buffer is left as it was.
    assert!(canonicalize_into(r#"{"z":1,"a":"#, &mut out).is_err());
    assert_eq!(out, r#"prefix:{"a":[2,{"c":1,"d":0}],"b":1}"#);
}

#[test]
fn js_property_order_quirks() {
    let c = |s: &str| canonicalize(s).unwrap();
    // Escaped keys are compared by their decoded value: "\u0031" is the index 1 and duplicates "1".
    assert_eq!(c(r#"{"b":0,"\u0031":1,"1":2}"#), r#"{"1":2,"b":0}"#);
    assert_eq!(c(r#"{"\u005f_proto__":1,"a":2}"#), r#"{"a":2}"#);
    assert_eq!(c(r#"{"__proto__":1}"#), "{}");
    assert_eq!(c(r#"{"a":1,"b":2,"a":3,"b":4,"a":5}"#), r#"{"a":5,"b":4}"#);
    // Mixed raw / escaped keys around the U+E000 vs supplementary disagreement.
    assert_eq!(
        c("{\"\u{e000}\":1,\"\\ud83d\\ude00\":2,\"\u{10000}\":3,\"\\uE001\":4}"),
        "{\"\u{10000}\":3,\"\u{1f600}\":2,\"\u{e000}\":1,\"\u{e001}\":4}"
    );
    // Lone surrogate keys sort by code unit too (D800 < D83D DE00 < DFFF).
    assert_eq!(
        c(r#"{"\uDFFF":1,"😀":2,"\uD800":3}"#),
        r#"{"\ud800":3,"😀":2,"\udfff":1}"#
    );
    // Index bounds.
    assert_eq!(
        c(r#"{"4294967295":0,"4294967294":1,"42949672940":2,"00":3,"0":4}"#),
        r#"{"0":4,"4294967294":1,"00":3,"42949672940":2,"4294967295":0}"#
    );
}

#[test]
fn numbers() {
    let c = |s: &str| canonicalize(s).unwrap();
    assert_eq!(c("1e400"), "null");
    assert_eq!(c("-1e400"), "null");
    assert_eq!(c("1e-400"), "0");
    assert_eq!(c("-1e-400"), "0");
    assert_eq!(c("1e99999999999999999999999"), "null");
    assert_eq!(c("123456789012345"), "123456789012345");
    assert_eq!(c("-123456789012345"), "-123456789012345");
    assert_eq!(c("1234567890123456789"), "1234567890123456800");
    assert_eq!(c("0.1e-0"), "0.1");
    assert_eq!(c(&format!("0.{}1", "0".repeat(500))), "0"); // underflows like JSON.parse
    assert_eq!(c(&format!("1{}", "0".repeat(30))), "1e+30");
}

fn invalid(input: &str) -> CanonicalError {
    match canonicalize(input) {
        Ok(out) => panic!("{input:?} accepted as {out:?}"),
        Err(e) => e,
    }
}

#[test]
fn invalid_json_rejected_with_offset() {
    let cases: &[(&str, usize)] = &[
        ("", 0),
        ("[1,2,]", 5),
        ("{\"a\":1,}", 7),
        ("{a:1}", 1),
        ("01", 1),
        ("[-01]", 3),
        ("-", 1),
        ("[-]", 2),
        ("1.", 2),
        (".5", 0),
        ("1e", 2),
        ("1e+", 3),
        ("+1", 0),
        ("\"a\u{1}b\"", 2),
        ("\"tab\there\"", 4),
        ("\"abc", 4),
        ("\"ab\\", 4),
        ("\"\\x\"", 1),
        ("\"\\u12G4\"", 5),
        ("\"\\u12\"", 5),
        ("{} x", 3),
        ("[1] [2]", 4),
        ("truex", 4),
        ("nul", 0),
        ("{\"a\" 1}", 5),
        ("{\"a\":1 \"b\":2}", 7),
        ("[1 2]", 3),
        ("\u{feff}{}", 0),
        ("'a'", 0),
        ("NaN", 0),
    ];
    for &(input, offset) in cases {
        let e = invalid(input);
        assert_eq!(e.offset, offset, "{input:?}: {e}");
        assert!(e.to_string().starts_with("invalid JSON at byte "));
    }
}

#[test]
fn depth_limit() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(canonicalize(&nest(128)).unwrap(), nest(128));
    assert_eq!(invalid(&nest(129)).reason, "nesting too deep");
    let objs = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    assert_eq!(canonicalize(&objs(128)).unwrap(), objs(128));
    assert_eq!(invalid(&objs(129)).reason, "nesting too deep");
}

#[test]
fn write_string_rules() {
    let w = |s: &str| {
        let mut out = String::new();
        write_string(&mut out, s);
        out
    };
    assert_eq!(w(""), r#""""#);
    assert_eq!(w("a\"b\\c/d"), r#""a\"b\\c/d""#);
    assert_eq!(
        w("\u{8}\t\n\u{c}\r\u{0}\u{1f}"),
        r#""\b\t\n\f\r\u0000\u001f""#
    );
    assert_eq!(
        w("\u{7f}\u{80}\u{9f}\u{2028}\u{2029}é😀<>&'"),
        "\"\u{7f}\u{80}\u{9f}\u{2028}\u{2029}é😀<>&'\""
    );
    // Agrees with canonicalizing the serde_json encoding of every char in a wide range.
    let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
    assert_eq!(
        w(&all),
        canonicalize(&serde_json::to_string(&all).unwrap()).unwrap()
    );
}

#[test]
fn write_u64_matches_write_f64() {
    let mut values = vec![
        0u64,
        1,
        9,
        10,
        99,
        100,
        12345,
        1_700_000_000_000,
        4_294_967_295,
        999_999_999_999_999,
        1_000_000_000_000_000,
        (1 << 53) - 1,
        1 << 53,
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        x = xorshift(x);
        values.push(x >> (11 + x % 53)); // spread of magnitudes, all <= 2^53
    }
    for v in values {
        let (mut a, mut b) = (String::new(), String::new());
        write_u64(&mut a, v);
        write_f64(&mut b, v as f64);
        assert_eq!(a, b, "{v}");
        assert_eq!(a, v.to_string());
    }
}

#[test]
fn write_f64_js_forms() {
    let w = |x: f64| {
        let mut out = String::new();
        write_f64(&mut out, x);
        out
    };
    assert_eq!(w(-0.0), "0");
    assert_eq!(w(f64::NAN), "null");
    assert_eq!(w(f64::INFINITY), "null");
    assert_eq!(w(f64::NEG_INFINITY), "null");
    assert_eq!(w(1e21), "1e+21");
    assert_eq!(w(1e-7), "1e-7");
    assert_eq!(w(-9007199254740992.0), "-9007199254740992");
    assert_eq!(w(9007199254740994.0), "9007199254740994");
    assert_eq!(w(f64::MAX), "1.7976931348623157e+308");
    assert_eq!(w(5e-324), "5e-324");
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

#[test]
fn random_doubles_round_trip() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut buf = ryu_js::Buffer::new();
    let mut checked = 0;
    while checked < 5000 {
        x = xorshift(x);
        let f = f64::from_bits(x);
        if !f.is_finite() {
            continue;
        }
        let text = buf.format_finite(f).to_owned();
        let out = canonicalize(&text).unwrap();
        assert_eq!(out, text, "bits {x:#018x}");
        let mut direct = String::new();
        write_f64(&mut direct, f);
        assert_eq!(direct, text, "bits {x:#018x}");
        // Inside a container too (exercises the number token boundary).
        assert_eq!(
            canonicalize(&format!("[{text},{{\"k\":{text}}}]")).unwrap(),
            format!("[{text},{{\"k\":{text}}}]")
        );
        checked += 1;
    }
}
