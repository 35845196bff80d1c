//! JSON decoding with errors that name the offending field (`blocks[2].transactions[0].nonce`).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{message}", if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
pub struct DecodeError {
    /// Where in the document, e.g. `payload.blocks[0].height`; empty for the top level.
    pub path: String,
    pub message: String,
}

/// Parses `json` as `T`. Unknown fields are ignored; missing or mistyped fields are errors.
pub fn from_json<'a, T: serde::Deserialize<'a>>(json: &'a str) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(json);
    // Path tracking costs about as much as the parse itself, and nearly every input is valid:
    // parse plainly, and only parse a failing input again to name the field.
    let value = T::deserialize(&mut de).map_err(|e| {
        #[cfg(feature = "field-paths")]
        if let Err(e) =
            serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_str(json))
        {
            return path_error(e);
        }
        // Without field paths serde_json's own position ("at line 1 column 57") says where.
        DecodeError {
            path: String::new(),
            message: e.to_string(),
        }
    })?;
    de.end().map_err(|e| DecodeError {
        path: String::new(),
        message: strip_position(&e),
    })?;
    Ok(value)
}

#[cfg(feature = "field-paths")]
fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> DecodeError {
    DecodeError {
        path: e.path().to_string(),
        message: strip_position(e.inner()),
    }
}

/// serde_json appends " at line 1 column 57"; the path already says where, so keep the column
/// only for syntax errors (where there is no path).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if e.is_syntax() || e.is_eof() {
        return text;
    }
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
