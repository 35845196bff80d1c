//! Extractors whose rejections are [`ApiError`]s, so axum's plain-text rejection bodies never
//! reach a client: JSON request bodies, query strings and path segments.

use super::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The text of a JSON request body. The content type must be JSON: that keeps cross-origin
/// pages from posting to the node without a CORS preflight (which only allows reads).
pub struct JsonText(pub String);

impl<S: Send + Sync> FromRequest<S> for JsonText {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        // The body is read (within the body limit) even when it is refused: answering before
        // it has arrived made the server close a keep-alive connection the client was about to
        // reuse, and the client's next request failed with an unexpected EOF.
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::new(r.status(), r.body_text()))?;
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body (Content-Type: application/json)",
            ));
        }
        String::from_utf8(bytes.to_vec())
            .map(JsonText)
            .map_err(|_| ApiError::bad_request("invalid JSON body: not UTF-8"))
    }
}

impl JsonText {
    /// Decodes the body; errors name the field (`sql: invalid type: …`).
    pub fn decode<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, ApiError> {
        let invalid =
            |e: &dyn std::fmt::Display| ApiError::bad_request(format!("invalid JSON body: {e}"));
        // Syntax first, so a malformed body reads as such rather than as a field's error.
        serde_json::from_str::<serde::de::IgnoredAny>(&self.0).map_err(|e| invalid(&e))?;
        miniledger_core::decode::from_json(&self.0).map_err(|e| invalid(&e))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// `axum::extract::Query` with JSON rejections.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}

/// `axum::extract::Path` with JSON rejections.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r| ApiError::new(r.status(), r.body_text()))
    }
}

/// A `limit` query parameter: `default` when absent, at most `max`, at least 1.
pub fn limit(value: Option<u64>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit: must be at least 1")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(max).min(max)),
    }
}
