//! The operator token, in the manner of Bitcoin Core's cookie file: 32 random bytes as hex in
//! `<data-dir>/operator.token` (0600), made at `init` (or the first start of an older data
//! directory). Whoever can read that file may make the node sign (unsigned `POST /tx`): they
//! send it as `Authorization: Bearer <token>`. The CLI and `miniledger demo` read it themselves.

use super::{secret_file, IdentityError};
use miniledger_core::hex;
use std::path::{Path, PathBuf};

/// File name of the token inside the data directory.
pub const TOKEN_FILE: &str = "operator.token";

/// The token; compared in constant time, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorToken(String);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(…)")
    }
}

impl OperatorToken {
    /// Path of the token file in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(TOKEN_FILE)
    }

    /// The data directory's token, made (and stored) if it has none.
    pub fn load_or_create(data_dir: &Path) -> Result<OperatorToken, IdentityError> {
        let path = Self::path(data_dir);
        if let Some(token) = Self::read(&path)? {
            return Ok(token);
        }
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(IdentityError::Randomness)?;
        let token = OperatorToken(hex::encode(&bytes));
        secret_file::write(&path, format!("{}\n", token.0).as_bytes()).map_err(|e| {
            IdentityError::Token {
                path: path.clone(),
                reason: format!("cannot write: {e}"),
            }
        })?;
        tracing::info!(path = %path.display(), "created the operator token");
        Ok(token)
    }

    /// The token stored at `path`, None if there is no such file.
    pub fn read(path: &Path) -> Result<Option<OperatorToken>, IdentityError> {
        if !path.exists() {
            return Ok(None);
        }
        let bad = |reason: String| IdentityError::Token {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = secret_file::read(path).map_err(|e| bad(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        Self::parse(text.trim()).map(Some).map_err(bad)
    }

    /// A token given as text (from a file or the environment): at least 32 printable ASCII
    /// characters, so an operator may choose their own.
    pub fn parse(text: &str) -> Result<OperatorToken, String> {
        if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an operator token is at least 32 printable ASCII characters".into());
        }
        Ok(OperatorToken(text.to_string()))
    }

    /// The token's text, to send in an `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this token, in time independent of where they differ.
    pub fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let token = OperatorToken::parse(&"a".repeat(64)).unwrap();
        assert!(token.matches(&"a".repeat(64)));
        assert!(!token.matches(&"a".repeat(63)));
        assert!(!token.matches(&format!("{}b", "a".repeat(63))));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "OperatorToken(…)");
        assert!(OperatorToken::parse("short").is_err());
        assert!(OperatorToken::parse(&format!("{} x", "a".repeat(40))).is_err());
    }
}
