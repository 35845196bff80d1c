//! Strict hex: lowercase only, exact lengths. MiniLedger's decoder is loose (uppercase, `"5z"`,
//! odd pairs); accepting those would let one value have several encodings, so we refuse them.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    #[error("expected {expected} hex characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("not lowercase hex at character {0}")]
    Character(usize),
}

/// Decodes exactly `N` bytes from `2N` lowercase hex characters.
pub fn decode<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: bytes.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or(HexError::Character(2 * i))?;
        let lo = nibble(pair[1]).ok_or(HexError::Character(2 * i + 1))?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

/// Decodes any even number of lowercase hex characters.
pub fn decode_vec(s: &str) -> Result<Vec<u8>, HexError> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::Length {
            expected: bytes.len() + 1,
            got: bytes.len(),
        });
    }
    bytes
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| {
            let hi = nibble(pair[0]).ok_or(HexError::Character(2 * i))?;
            let lo = nibble(pair[1]).ok_or(HexError::Character(2 * i + 1))?;
            Ok((hi << 4) | lo)
        })
        .collect()
}

/// True when `s` is exactly `2 * n_bytes` lowercase hex characters.
pub fn is_lower_hex(s: &str, n_bytes: usize) -> bool {
    s.len() == 2 * n_bytes && s.bytes().all(|b| nibble(b).is_some())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
