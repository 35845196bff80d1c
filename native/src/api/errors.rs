//! Every API error is JSON `{"error": message}` with a status code that fits: the caller's
//! mistakes are 4xx and name the rule or field at fault, the node's own failures are 5xx.

use crate::node::SubmitError;
use crate::storage::StoreError;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use miniledger_core::mempool::AdmitError;
use miniledger_core::Rule;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The node itself failed; logged, since nobody but the operator can fix it.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(target: "api", "{message}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme the client should use.
            let challenge = [(WWW_AUTHENTICATE, r#"Bearer realm="miniledger operator""#)];
            return (self.status, challenge, body).into_response();
        }
        (self.status, body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidQuery(_) => ApiError::bad_request(e.to_string()),
            StoreError::QueryTimeout { .. } => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string())
            }
            other => ApiError::internal(format!("storage error: {other}")),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Admit(e) => e.into(),
            // 507: the node, not the request, is short of storage; retrying later may work.
            SubmitError::Disk(_) => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(e: AdmitError) -> Self {
        match e {
            AdmitError::Duplicate => ApiError::bad_request(format!(
                "{}: the transaction is already pending",
                Rule::TxDuplicate
            )),
            AdmitError::Invalid(e) => ApiError::bad_request(e.to_string()),
            AdmitError::Full(_) => ApiError::unavailable(e.to_string()),
        }
    }
}

/// Unknown paths (and methods a path does not serve).
pub async fn not_found() -> ApiError {
    ApiError::not_found("not found")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}
