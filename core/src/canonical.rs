//! Canonical JSON, byte-identical to MiniLedger 0.2 `canonicalize` (JS `JSON.stringify` of the parsed
//! value with object keys sorted at every level): keys in UTF-16 code-unit order, except that array-index
//! keys come first in numeric order and `__proto__` keys vanish; duplicate keys keep the last value;
//! numbers print like JS `Number#toString`; lone surrogates print as `\udxxx`.
//! Hand-written over JSON text because serde_json cannot hold lone surrogates and no crate copies the JS
//! property-order quirks.

use std::cell::Cell;
use std::cmp::Ordering;

/// Deepest nesting of arrays/objects accepted (128 levels; 129 is an error).
const MAX_DEPTH: usize = 128;

/// `Member::index` for keys that are not canonical array indices. 4294967295 is not an index in JS,
/// so the sentinel never collides and sorts every ordinary key after every index key.
const NOT_INDEX: u32 = u32::MAX;

/// Largest integer up to which every integer is exactly representable as f64 (2^53).
const MAX_SAFE: u64 = 1 << 53;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct CanonicalError {
    pub offset: usize,
    pub reason: &'static str,
}

/// Canonical form of any JSON text (strict RFC 8259 grammar; whitespace allowed around tokens;
/// max nesting depth 128; trailing non-whitespace is an error).
pub fn canonicalize(json_text: &str) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(json_text.len());
    canonicalize_into(json_text, &mut out)?;
    Ok(out)
}

/// Same as [`canonicalize`], appending to `out`. On error `out` is restored to its original length.
pub fn canonicalize_into(json_text: &str, out: &mut String) -> Result<(), CanonicalError> {
    let start = out.len();
    // Canonical text is rarely longer than its input (only exponents gain a '+').
    out.reserve(json_text.len());
    // Reuse the work buffers across calls on this thread (saves a few allocations per payload).
    // `take` leaves an empty set behind, so a nested call would just allocate its own.
    let bufs = BUFFERS.with(Cell::take);
    let mut p = Parser {
        src: json_text,
        bytes: json_text.as_bytes(),
        pos: 0,
        depth: 0,
        members: bufs.members,
        units: bufs.units,
        scratch: bufs.scratch,
    };
    let result = p.document(out);
    if result.is_err() {
        out.truncate(start);
    }
    // Don't pin the memory of an unusually large document.
    let held = p.scratch.capacity()
        + p.units.capacity() * std::mem::size_of::<u16>()
        + p.members.capacity() * std::mem::size_of::<Member>();
    if held <= KEEP_BUFFER_BYTES {
        p.members.clear();
        p.units.clear();
        BUFFERS.with(|b| {
            b.set(Buffers {
                members: p.members,
                units: p.units,
                scratch: p.scratch,
            })
        });
    }
    result
}

/// Largest total size of work buffers kept for reuse between calls.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct Buffers {
    members: Vec<Member>,
    units: Vec<u16>,
    scratch: String,
}

thread_local! {
    static BUFFERS: Cell<Buffers> = Cell::new(Buffers::default());
}

/// Append `s` as a JSON string literal exactly as `JSON.stringify` writes it.
pub fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        // Only ASCII bytes get here, so `i` is a char boundary.
        out.push_str(&s[run..i]);
        push_escaped_ascii(out, b);
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Append a number as `JSON.stringify` writes a double (non-finite values become `null`).
pub fn write_f64(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    let a = x.abs();
    if a <= MAX_SAFE as f64 && a.trunc() == a {
        // Integers this small print as plain digits in JS; skip ryu. `-0.0 < 0.0` is false, so -0 -> "0".
        if x < 0.0 {
            out.push('-');
        }
        push_u64_digits(out, a as u64);
        return;
    }
    out.push_str(ryu_js::Buffer::new().format_finite(x));
}

/// Fast path for non-negative integers: same output as `write_f64(x as f64)`.
pub fn write_u64(out: &mut String, x: u64) {
    if x <= MAX_SAFE {
        push_u64_digits(out, x);
    } else {
        // Out of the documented range; stay identical to the f64 path rather than print exact digits.
        write_f64(out, x as f64);
    }
}

fn push_u64_digits(out: &mut String, mut x: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&d| d as char));
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Escape for an ASCII byte that `JSON.stringify` never writes raw (`"`, `\`, < 0x20).
fn push_escaped_ascii(out: &mut String, b: u8) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x08 => out.push_str("\\b"),
        b'\t' => out.push_str("\\t"),
        b'\n' => out.push_str("\\n"),
        0x0c => out.push_str("\\f"),
        b'\r' => out.push_str("\\r"),
        _ => push_u_escape(out, u16::from(b)),
    }
}

/// `\uxxxx` with lowercase hex, as JSON.stringify writes controls and lone surrogates.
fn push_u_escape(out: &mut String, u: u16) {
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((u >> shift) & 0xf)] as char);
    }
}

/// Write decoded UTF-16 units as a string literal: pairs become the real char, lone surrogates `\udxxx`.
fn write_units(out: &mut String, units: &[u16]) {
    out.push('"');
    for r in char::decode_utf16(units.iter().copied()) {
        match r {
            Ok(c) if (c as u32) < 0x20 || c == '"' || c == '\\' => push_escaped_ascii(out, c as u8),
            Ok(c) => out.push(c),
            Err(e) => push_u_escape(out, e.unpaired_surrogate()),
        }
    }
    out.push('"');
}

/// A string token: a slice of the input when it has no escapes, else a range of decoded units.
#[derive(Clone, Copy)]
enum Str {
    Raw(usize, usize),
    Decoded(usize, usize),
}

/// One object member while its object is being parsed.
#[derive(Clone, Copy)]
struct Member {
    key: Str,
    /// Raw key has a byte >= 0xEE: UTF-8 byte order may then differ from UTF-16 order
    /// (U+E000..U+FFFF vs supplementary chars), so compare by units.
    wide: bool,
    /// Canonical array index value, or NOT_INDEX.
    index: u32,
    proto: bool,
    /// `"key":value` already written to `out`.
    start: usize,
    end: usize,
}

/// Key order of the JS output: array indices numerically, then the rest by UTF-16 code units.
fn cmp_members(src: &str, units: &[u16], a: &Member, b: &Member) -> Ordering {
    if a.index != b.index {
        return a.index.cmp(&b.index);
    }
    if a.index != NOT_INDEX {
        return Ordering::Equal;
    }
    match (a.key, b.key) {
        (Str::Raw(s1, e1), Str::Raw(s2, e2)) => {
            let (x, y) = (&src[s1..e1], &src[s2..e2]);
            if a.wide || b.wide {
                x.encode_utf16().cmp(y.encode_utf16())
            } else {
                x.as_bytes().cmp(y.as_bytes())
            }
        }
        (Str::Raw(s1, e1), Str::Decoded(s2, e2)) => src[s1..e1]
            .encode_utf16()
            .cmp(units[s2..e2].iter().copied()),
        (Str::Decoded(s1, e1), Str::Raw(s2, e2)) => units[s1..e1]
            .iter()
            .copied()
            .cmp(src[s2..e2].encode_utf16()),
        (Str::Decoded(s1, e1), Str::Decoded(s2, e2)) => units[s1..e1].cmp(&units[s2..e2]),
    }
}

/// JS canonical array index: "0" or digits without a leading zero, value <= 4294967294.
fn array_index<T: Copy + Into<u32>>(key: &[T]) -> u32 {
    let n = key.len();
    if n == 0 || n > 10 || (n > 1 && key[0].into() == u32::from(b'0')) {
        return NOT_INDEX;
    }
    let mut v: u64 = 0;
    for &c in key {
        let d = c.into().wrapping_sub(u32::from(b'0'));
        if d > 9 {
            return NOT_INDEX;
        }
        v = v * 10 + u64::from(d);
    }
    if v < u64::from(NOT_INDEX) {
        v as u32
    } else {
        NOT_INDEX
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Members of all objects currently open, innermost last.
    members: Vec<Member>,
    /// Decoded text of escaped strings (keys of open objects, plus the current value).
    units: Vec<u16>,
    /// Copy of an object's body while its members are re-emitted in sorted order.
    scratch: String,
}

type Res<T> = Result<T, CanonicalError>;

fn err<T>(offset: usize, reason: &'static str) -> Res<T> {
    Err(CanonicalError { offset, reason })
}

impl Parser<'_> {
    fn document(&mut self, out: &mut String) -> Res<()> {
        self.value(out)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return err(self.pos, "trailing characters");
        }
        Ok(())
    }

    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && is_ws(self.bytes[self.pos]) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, out: &mut String) -> Res<()> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(out),
            Some(b'[') => self.array(out),
            Some(b'"') => match self.string()? {
                // No escapes: the grammar already excludes raw controls, so the token is canonical.
                Str::Raw(s, e) => {
                    out.push_str(&self.src[s - 1..e + 1]);
                    Ok(())
                }
                Str::Decoded(s, e) => {
                    write_units(out, &self.units[s..e]);
                    self.units.truncate(s);
                    Ok(())
                }
            },
            Some(b't') => self.literal(out, "true"),
            Some(b'f') => self.literal(out, "false"),
            Some(b'n') => self.literal(out, "null"),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            Some(_) => err(self.pos, "expected value"),
            None => err(self.pos, "unexpected end of input"),
        }
    }

    fn literal(&mut self, out: &mut String, word: &'static str) -> Res<()> {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            return err(self.pos, "invalid literal");
        }
        self.pos += word.len();
        out.push_str(word);
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self, out: &mut String) -> Res<()> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let int_digits = match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return err(self.pos, "leading zeros are not allowed");
                }
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return err(self.pos, "expected digit"),
        };
        let mut plain_int = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return err(self.pos, "expected digit after decimal point");
            }
            plain_int = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return err(self.pos, "expected digit in exponent");
            }
            plain_int = false;
        }
        let text = &self.src[start..self.pos];
        if plain_int && int_digits <= 15 {
            // < 2^53 and no leading zeros: the input spelling is already the JS spelling, except -0.
            out.push_str(if text == "-0" { "0" } else { text });
            return Ok(());
        }
        // Rust's parser is correctly rounded like JSON.parse; overflow gives ±inf, written as null.
        match text.parse::<f64>() {
            Ok(x) => {
                write_f64(out, x);
                Ok(())
            }
            Err(_) => err(start, "invalid number"),
        }
    }

    /// Parses a string token at the opening quote.
    fn string(&mut self) -> Res<Str> {
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.bytes.get(i) {
                None => return err(i, "unterminated string"),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Str::Raw(start, i));
                }
                Some(b'\\') => return self.decode_escaped(start, i),
                Some(0..=0x1f) => return err(i, "control character in string"),
                Some(_) => i += 1,
            }
        }
    }

    /// Slow path for strings with escapes: decode to UTF-16 units so lone surrogates survive.
    fn decode_escaped(&mut self, start: usize, first_escape: usize) -> Res<Str> {
        let u0 = self.units.len();
        self.units
            .extend(self.src[start..first_escape].encode_utf16());
        let mut i = first_escape;
        let mut run = i;
        loop {
            match self.bytes.get(i) {
                None => return err(i, "unterminated string"),
                Some(b'"') => {
                    self.units.extend(self.src[run..i].encode_utf16());
                    self.pos = i + 1;
                    return Ok(Str::Decoded(u0, self.units.len()));
                }
                Some(b'\\') => {
                    self.units.extend(self.src[run..i].encode_utf16());
                    let unit = match self.bytes.get(i + 1) {
                        Some(b'"') => 0x22,
                        Some(b'\\') => 0x5c,
                        Some(b'/') => 0x2f,
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => 0x0a,
                        Some(b'r') => 0x0d,
                        Some(b't') => 0x09,
                        Some(b'u') => {
                            let mut u: u16 = 0;
                            for k in i + 2..i + 6 {
                                let d = match self.bytes.get(k) {
                                    Some(&c @ b'0'..=b'9') => c - b'0',
                                    Some(&c @ b'a'..=b'f') => c - b'a' + 10,
                                    Some(&c @ b'A'..=b'F') => c - b'A' + 10,
                                    _ => return err(k, "invalid \\u escape"),
                                };
                                u = u << 4 | u16::from(d);
                            }
                            i += 4;
                            u
                        }
                        None => return err(i + 1, "unterminated string"),
                        _ => return err(i, "invalid escape"),
                    };
                    self.units.push(unit);
                    i += 2;
                    run = i;
                }
                Some(0..=0x1f) => return err(i, "control character in string"),
                Some(_) => i += 1,
            }
        }
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.pos, "nesting too deep");
        }
        self.pos += 1;
        Ok(())
    }

    fn array(&mut self, out: &mut String) -> Res<()> {
        self.enter()?;
        out.push('[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.value(out)?;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        out.push(',');
                    }
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return err(self.pos, "expected ',' or ']'"),
                }
            }
        }
        out.push(']');
        self.depth -= 1;
        Ok(())
    }

    /// Members are written to `out` in input order as they are parsed (`"key":value`, comma-separated).
    /// If they turn out already sorted and unique (e.g. re-canonicalizing stored blocks) that text is
    /// final; otherwise the body is copied to `scratch` and re-emitted in sorted order.
    fn object(&mut self, out: &mut String) -> Res<()> {
        self.enter()?;
        out.push('{');
        let body = out.len();
        let m0 = self.members.len();
        let u0 = self.units.len();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return err(self.pos, "expected string key");
                }
                if self.members.len() > m0 {
                    out.push(',');
                }
                let start = out.len();
                let key = self.string()?;
                let (wide, index, proto) = match key {
                    Str::Raw(s, e) => {
                        out.push_str(&self.src[s - 1..e + 1]);
                        let k = &self.bytes[s..e];
                        let index = if k.first().is_some_and(u8::is_ascii_digit) {
                            array_index(k)
                        } else {
                            NOT_INDEX
                        };
                        (k.iter().any(|&b| b >= 0xee), index, k == b"__proto__")
                    }
                    Str::Decoded(s, e) => {
                        let k = &self.units[s..e];
                        write_units(out, k);
                        let proto = k.iter().copied().eq("__proto__".encode_utf16());
                        (false, array_index(k), proto)
                    }
                };
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return err(self.pos, "expected ':'");
                }
                self.pos += 1;
                out.push(':');
                self.value(out)?;
                self.members.push(Member {
                    key,
                    wide,
                    index,
                    proto,
                    start,
                    end: out.len(),
                });
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return err(self.pos, "expected ',' or '}'"),
                }
            }
            self.finish_object(out, body, m0);
        }
        out.push('}');
        self.members.truncate(m0);
        self.units.truncate(u0);
        self.depth -= 1;
        Ok(())
    }

    fn finish_object(&mut self, out: &mut String, body: usize, m0: usize) {
        let Parser {
            src,
            members,
            units,
            scratch,
            ..
        } = self;
        let ms = &mut members[m0..];
        let cmp = |a: &Member, b: &Member| cmp_members(src, units, a, b);
        let in_order = ms.windows(2).all(|w| cmp(&w[0], &w[1]) == Ordering::Less)
            && !ms.iter().any(|m| m.proto);
        if in_order {
            return;
        }
        // Stable, so equal keys stay in input order and the last of each run is the one JSON.parse kept.
        ms.sort_by(cmp);
        scratch.clear();
        scratch.push_str(&out[body..]);
        out.truncate(body);
        let mut first = true;
        for (i, m) in ms.iter().enumerate() {
            if m.proto || ms.get(i + 1).is_some_and(|n| cmp(m, n) == Ordering::Equal) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&scratch[m.start - body..m.end - body]);
        }
    }
}
