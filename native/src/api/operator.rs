//! Requests that make the node sign on its own behalf need the operator token
//! (`Authorization: Bearer <token>`, see `crate::identity::OperatorToken`); everything else —
//! reads and already-signed transactions — is open to anyone.

use super::errors::ApiError;
use crate::identity::{OperatorToken, TOKEN_FILE};
use axum::http::{header, HeaderMap};

/// Ok if `headers` carry the operator token; a 401 naming what is missing otherwise.
pub fn authorize(token: &OperatorToken, headers: &HeaderMap) -> Result<(), ApiError> {
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match offered {
        Some(offered) if token.matches(offered.trim()) => Ok(()),
        Some(_) => {
            tracing::warn!("refused a request to sign: wrong operator token");
            Err(ApiError::unauthorized(
                "the operator token is not this node's",
            ))
        }
        None => Err(ApiError::unauthorized(format!(
            "the node signs only for its operator: send `Authorization: Bearer <token>` with \
             the token from the node's <data-dir>/{TOKEN_FILE}, or submit a transaction you \
             signed yourself"
        ))),
    }
}
