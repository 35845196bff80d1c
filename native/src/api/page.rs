//! Headers of the page and its files (`www/`, served at `/`). The page holds a signing key (the
//! tab's session key) and shows data written by strangers, so a script injected through chain
//! data would sign in the viewer's name: the page renders chain data as text only, and this
//! Content-Security-Policy makes any markup that slipped through inert — scripts only from this
//! origin (no inline script, no eval; `'wasm-unsafe-eval'` compiles the light node's wasm),
//! sockets to any ws:/wss: peer of the mesh, no plugins, frames, foreign forms or base URL.

use axum::http::header::{HeaderName, HeaderValue};
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the policy (and `nosniff`, no referrer) to a static file's response.
pub async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    response
}
