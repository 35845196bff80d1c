//! `JSON.parse` for contracts, in Rust: JSON text straight to engine values.
//!
//! Boa 0.21's own `JSON.parse` checks the text with serde_json, then parses it again as a
//! JavaScript expression, compiles it to bytecode and runs it: 14 % of a token transfer (three
//! parses: the arguments and two balances). This builds the values while serde_json reads the
//! text once. Same language accepted (the same serde_json check, the same error messages, its
//! nesting limit of 128), same values: numbers correctly rounded (serde_json's `float_roundtrip`,
//! enabled with the `contracts` feature), `-0` kept, keys in source order with integer-like keys
//! as indices (`create_data_property`), a repeated key's last value at its first position.
//! `json_value::tests` compares it with Boa's own `JSON.parse` on a corpus.

use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, JsNativeError, JsObject, JsResult, JsString, JsValue};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Parses JSON `text` into a value of `context`; a `SyntaxError` (serde_json's message) if it
/// is not JSON.
pub fn parse(text: &str, context: &mut Context) -> JsResult<JsValue> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Build(context)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| JsNativeError::syntax().with_message(e.to_string()).into())
}

struct Build<'c>(&'c mut Context);

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = JsValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        d.deserialize_any(self)
    }
}

fn number(n: f64) -> JsValue {
    // Integers in i32 range as the engine's integer representation, as its lexer makes them.
    if n.fract() == 0.0 && n.abs() <= i32::MAX as f64 && !(n == 0.0 && n.is_sign_negative()) {
        JsValue::new(n as i32)
    } else {
        JsValue::new(n)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::null())
    }
    fn visit_bool<E>(self, b: bool) -> Result<JsValue, E> {
        Ok(JsValue::new(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<JsValue, E> {
        Ok(number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<JsValue, E> {
        Ok(number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<JsValue, E> {
        Ok(number(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<JsValue, E> {
        Ok(JsString::from(s).into())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Build(&mut *self.0))? {
            items.push(v);
        }
        Ok(JsArray::from_iter(items, self.0).into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let object = JsObject::with_object_proto(self.0.intrinsics());
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value_seed(Build(&mut *self.0))?;
            object
                .create_data_property_or_throw(JsString::from(key.as_ref()), value, self.0)
                .map_err(|e| de::Error::custom(e.to_string()))?;
        }
        Ok(object.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boa_engine::{js_string, Source};

    /// `JSON.stringify` of the value, its keys, and whether it is -0, as Boa's own `JSON.parse`
    /// and ours give them (or the error).
    fn both(text: &str) -> (String, String) {
        let mut context = Context::default();
        let describe = context
            .eval(Source::from_bytes(
                "(v) => JSON.stringify([v, typeof v === 'object' && v !== null ? Object.keys(v) : null, Object.is(v, -0), Array.isArray(v)])",
            ))
            .unwrap();
        let describe = describe.as_object().unwrap().clone();
        let show = |v: JsResult<JsValue>, context: &mut Context| match v {
            Ok(v) => describe
                .call(&JsValue::undefined(), &[v], context)
                .unwrap()
                .to_string(context)
                .unwrap()
                .to_std_string_escaped(),
            Err(e) => format!("error: {}", e.try_native(context).unwrap().message()),
        };
        let json = context
            .global_object()
            .get(js_string!("JSON"), &mut context)
            .unwrap();
        let native_parse = json
            .as_object()
            .unwrap()
            .get(js_string!("parse"), &mut context)
            .unwrap();
        let theirs = native_parse.as_callable().unwrap().call(
            &json,
            &[JsString::from(text).into()],
            &mut context,
        );
        let theirs = show(theirs, &mut context);
        let ours = parse(text, &mut context);
        (theirs, show(ours, &mut context))
    }

    #[test]
    fn agrees_with_the_engines_json_parse() {
        let deep = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        let too_deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
        let corpus = [
            "0",
            "-0",
            "-0.0",
            "1",
            "-1",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "1e308",
            "1e-400",
            "0.1",
            "0.30000000000000004",
            "123456789012345678901234567890",
            "5e-324",
            "1.5E3",
            "\"\"",
            "\"a\\u00e9\\ud83d\\ude00\\n\"",
            "\"é😀\"",
            "true",
            "false",
            "null",
            "[]",
            "[1,[2,[3]],{}]",
            "{}",
            r#"{"b":1,"a":2,"1":3,"0":4}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"__proto__":{"x":1}}"#,
            r#"{"length":5}"#,
            " [ 1 , 2 ] ",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            "NaN",
            "Infinity",
            "1e400",
            "-1e400",
            "\"\\ud800\"",
            "'a'",
            "",
            "[1] x",
            "\"\u{1}\"",
            "{\"a\" 1}",
            "[\"a\"",
            &too_deep,
        ];
        for text in corpus {
            let (theirs, ours) = both(text);
            assert_eq!(ours, theirs, "JSON.parse({text:?})");
        }
        // The deepest JSON accepted, within a default thread stack: the engine's own JSON.parse
        // overflows it there (it recurses through the whole expression grammar at each level),
        // which aborts the process.
        let mut context = Context::default();
        let value = parse(&deep, &mut context).unwrap();
        assert!(value.is_object());
    }
}
