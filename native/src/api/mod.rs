//! The REST API (axum), next to the node loop. Paths and JSON follow MiniLedger's REST API
//! (camelCase; blocks and transactions in their protocol JSON form).
//!
//! Reads of blocks, transactions and state go straight to SQLite through the API's own
//! read-only connections (pooled, on the blocking pool), never through the node loop; what only
//! the loop knows (status, peers, the mempool) and every submission are [`Command`]s to it.
//! Unknown paths fall through to the static page in `www/`, and then to a JSON 404.

mod blocks;
mod consistency;
mod contracts;
mod db;
mod errors;
mod extract;
mod governance;
mod node;
mod operator;
mod page;
mod paging;
mod search;
mod state;
mod tx;

pub use errors::ApiError;

use crate::config::ConsensusAlgorithm;
use crate::identity::OperatorToken;
use crate::node::{Command, Commands};
use crate::storage::{ReadOnlyQuery, Reader, StoreError};
use axum::handler::HandlerWithoutStateExt;
use axum::http::Method;
use axum::routing::{get, post};
use axum::Router;
use db::Pool;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

/// Concurrent blocking reads (blocks, transactions, state) and user SQL queries.
const READ_CONCURRENCY: usize = 16;
const QUERY_CONCURRENCY: usize = 4;
/// How long a request waits for the node loop to answer.
const NODE_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API says about the node that does not change while it runs.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: String,
    pub public_key: String,
    pub org_id: String,
    pub consensus: ConsensusAlgorithm,
    /// Validator public keys.
    pub validators: Vec<String>,
    /// This node produces blocks (solo consensus, and it is the validator).
    pub produces: bool,
    /// The bound P2P port, so a page served by this node can join the mesh through it.
    pub p2p_port: u16,
    /// The node's network (None in compat mode), served by `GET /genesis`.
    pub network: Option<miniledger_core::genesis::Network>,
    /// Whether governance acts (ours) or is only recorded (MiniLedger 0.2's networks).
    pub governance: miniledger_core::Governance,
}

/// Shared by every handler.
pub struct ApiContext {
    info: NodeInfo,
    started: Instant,
    commands: Commands,
    readers: Arc<Pool<Reader>>,
    queries: Arc<Pool<ReadOnlyQuery>>,
    /// Who may make the node sign (see `operator`).
    operator: OperatorToken,
}

type Ctx = Arc<ApiContext>;

impl ApiContext {
    /// Opens the API's first read connections to the database at `db_path` (so a node whose
    /// database cannot be read fails at start, not at the first request).
    pub fn new(
        info: NodeInfo,
        commands: Commands,
        db_path: &Path,
        operator: OperatorToken,
    ) -> Result<Arc<Self>, StoreError> {
        let reader_path = db_path.to_path_buf();
        let readers = Pool::new(READ_CONCURRENCY, Reader::open(db_path)?, move || {
            Reader::open(&reader_path)
        });
        let query_path = db_path.to_path_buf();
        let queries = Pool::new(
            QUERY_CONCURRENCY,
            ReadOnlyQuery::open(db_path)?,
            move || ReadOnlyQuery::open(&query_path),
        );
        Ok(Arc::new(ApiContext {
            info,
            started: Instant::now(),
            commands,
            readers,
            queries,
            operator,
        }))
    }

    /// Sends a command to the node loop and waits for its answer.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ApiError> {
        let gone = || ApiError::unavailable("the node is shutting down");
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(command(reply))
                .await
                .map_err(|_| gone())?;
            answer.await.map_err(|_| gone())
        };
        tokio::time::timeout(NODE_ANSWER_TIMEOUT, exchange)
            .await
            .map_err(|_| ApiError::unavailable("the node did not answer in time"))?
    }

    /// [`ApiContext::ask`] without the answer timeout (the caller bounds the wait).
    async fn ask_unbounded<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ApiError> {
        let gone = || ApiError::unavailable("the node is shutting down");
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }

    /// Runs a read on a pooled read-only connection.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Reader) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.readers.run(move |reader| f(reader)).await
    }
}

/// The directory served at `/`: `$MINILEDGER_WWW`, else the repository's `www/`.
pub fn www_dir() -> PathBuf {
    std::env::var_os("MINILEDGER_WWW")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../www")))
}

/// Every route, the static page and the JSON fallbacks.
pub fn router(ctx: Ctx, www: &Path) -> Router {
    let statics = ServeDir::new(www)
        .call_fallback_on_method_not_allowed(true)
        .not_found_service(errors::not_found.into_service());
    // The page's security headers (page.rs) on every static file, the worker script included.
    let statics = Router::new()
        .fallback_service(statics)
        .layer(axum::middleware::map_response(page::headers));
    // Dashboards on other origins may read; writes need a same-origin page or a non-browser
    // client (POST bodies must be JSON, which forces a preflight this layer does not grant).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD]);
    Router::new()
        .route("/status", get(node::status))
        .route("/identity", get(node::identity))
        .route("/genesis", get(node::genesis))
        .route("/peers", get(node::peers))
        .route("/consensus", get(node::consensus))
        .route("/blocks", get(blocks::list))
        .route("/blocks/latest", get(blocks::latest))
        .route("/blocks/{height}", get(blocks::by_height))
        .route("/tx", post(tx::submit))
        .route("/txs", post(tx::submit_many))
        .route("/tx/recent", get(tx::recent))
        .route("/tx/sender/{pubkey}", get(tx::by_sender))
        .route("/tx/{hash}", get(tx::by_hash))
        .route("/state", get(state::list))
        // GET of a key named "query" still reads that key.
        .route(
            "/state/query",
            post(state::query).get(state::entry_named_query),
        )
        .route("/state/{key}", get(state::entry))
        .route("/search", get(search::search))
        .route("/contracts", get(contracts::list))
        .route("/contracts/{name}", get(contracts::by_name))
        .route("/proposals", get(governance::list))
        .route("/proposals/{id}", get(governance::by_id))
        .method_not_allowed_fallback(errors::method_not_allowed)
        .fallback_service(statics)
        .layer(cors)
        .with_state(ctx)
}

/// Serves `router` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}
