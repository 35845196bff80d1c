//! `POST /state/query`: user-supplied SQL, sandboxed. It runs on its own connection opened
//! read-only, one statement at a time, only statements SQLite reports as read-only, under a
//! deadline enforced by a progress handler, with the result capped at `max_rows`.
//!
//! What it may read is an allowlist enforced by SQLite's authorizer, which SQLite consults for
//! every table a statement touches however it is reached (directly, through `sqlite_schema`,
//! a CTE, a subquery, a view, a table-valued PRAGMA function): only the ledger's public tables
//! ([`READABLE_TABLES`]). The node's internal tables (`meta`, the Raft state and log, the state
//! tree's nodes) are refused, as are ATTACH/DETACH and every PRAGMA but a few schema
//! descriptions of readable tables.

use super::error::{Context, StoreError};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// VM steps between deadline checks (a check costs a clock read, a step a few nanoseconds).
const PROGRESS_STEPS: i32 = 1_000;

/// Tables user SQL may read: the chain, its transactions, world state and sender nonces, all
/// public by design (every peer holds them).
pub const READABLE_TABLES: &[&str] = &["blocks", "transactions", "world_state", "nonces"];

/// PRAGMAs that only describe a readable table's schema; every other PRAGMA is refused.
const ALLOWED_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "index_list",
    "foreign_key_list",
];

const READ_ONLY_ONLY: &str = "only read-only statements are allowed";

/// A query's result; values are JSON (BLOBs as lowercase hex strings, non-finite reals as null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than `max_rows`.
    pub truncated: bool,
}

/// A read-only connection for user SQL. `Send`, so a server can keep one per worker thread.
pub struct ReadOnlyQuery {
    conn: Connection,
    /// Why the authorizer refused the statement being prepared (SQLite only says "not
    /// authorized").
    refusal: Arc<Mutex<Option<String>>>,
}

impl ReadOnlyQuery {
    pub fn open(db_path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(db_path, flags)
            .op_with(|| format!("cannot open {} read-only", db_path.display()))?;
        conn.pragma_update(None, "query_only", true)
            .op("setting query_only")?;
        conn.busy_timeout(Duration::from_secs(1))
            .op("setting the busy timeout")?;
        let stored = stored_tables(&conn)?;
        let refusal = Arc::new(Mutex::new(None));
        let noted = refusal.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match authorize(&ctx, &stored) {
                Ok(()) => Authorization::Allow,
                Err(reason) => {
                    // The first refusal names the cause, except that a write is always called
                    // one (dropping a table also reads `sqlite_schema`, refused first).
                    let mut noted = noted.lock().unwrap_or_else(PoisonError::into_inner);
                    if noted.is_none() || reason == READ_ONLY_ONLY {
                        *noted = Some(reason);
                    }
                    Authorization::Deny
                }
            }
        }))
        .op("installing the query authorizer")?;
        Ok(ReadOnlyQuery { conn, refusal })
    }

    /// Runs ONE read-only statement, returning at most `max_rows` rows; a statement still
    /// running after `timeout` is interrupted with [`StoreError::QueryTimeout`]. Refusals and
    /// SQL errors are [`StoreError::InvalidQuery`].
    pub fn run(
        &mut self,
        sql: &str,
        params: &[serde_json::Value],
        max_rows: usize,
        timeout: Duration,
    ) -> Result<QueryResult, StoreError> {
        if sql.trim().is_empty() {
            return Err(StoreError::InvalidQuery("the query is empty".into()));
        }
        let params = bind_values(params).map_err(StoreError::InvalidQuery)?;
        self.take_refusal();
        let deadline = Instant::now() + timeout;
        self.conn
            .progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))
            .op("installing the query deadline")?;
        let result = self.execute(sql, &params, max_rows);
        self.conn
            .progress_handler(0, None::<fn() -> bool>)
            .op("removing the query deadline")?;
        let refusal = self.take_refusal();
        result.map_err(|e| classify(e, timeout, refusal))
    }

    fn take_refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn execute(
        &self,
        sql: &str,
        params: &[Value],
        max_rows: usize,
    ) -> Result<QueryResult, QueryFailure> {
        let mut stmt = self.conn.prepare(sql)?;
        if !stmt.readonly() {
            return Err(QueryFailure::Refused(READ_ONLY_ONLY.into()));
        }
        let columns: Vec<String> = stmt.column_names().map(String::from).collect();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(row) = rows.next()? {
            if out.len() == max_rows {
                truncated = true;
                break;
            }
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(to_json))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(values);
        }
        Ok(QueryResult {
            columns,
            rows: out,
            truncated,
        })
    }
}

/// JSON `params` (MiniLedger 0.2's positional `?` parameters) as SQLite values: strings, numbers,
/// booleans (as 0/1) and null; arrays and objects have no SQL counterpart and are refused.
fn bind_values(params: &[serde_json::Value]) -> Result<Vec<Value>, String> {
    use serde_json::Value as Json;
    params
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Json::Null => Ok(Value::Null),
            Json::Bool(b) => Ok(Value::Integer(i64::from(*b))),
            // Beyond i64, a real (as SQLite itself stores a too-large integer literal).
            Json::Number(n) => Ok(n.as_i64().map_or_else(
                || Value::Real(n.as_f64().unwrap_or(f64::NAN)),
                Value::Integer,
            )),
            Json::String(s) => Ok(Value::Text(s.clone())),
            Json::Array(_) | Json::Object(_) => Err(format!(
                "params[{i}]: only strings, numbers, booleans and null can be bound"
            )),
        })
        .collect()
}

enum QueryFailure {
    Refused(String),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for QueryFailure {
    fn from(e: rusqlite::Error) -> Self {
        QueryFailure::Sqlite(e)
    }
}

/// Tells the caller's mistakes (refused or bad SQL, time limit) from the store's own failures.
fn classify(failure: QueryFailure, timeout: Duration, refusal: Option<String>) -> StoreError {
    let e = match failure {
        QueryFailure::Refused(reason) => return StoreError::InvalidQuery(reason),
        QueryFailure::Sqlite(e) => e,
    };
    let invalid = |msg: String| StoreError::InvalidQuery(msg);
    match &e {
        rusqlite::Error::MultipleStatement => invalid("only one statement is allowed".into()),
        rusqlite::Error::InvalidParameterCount(given, wanted) => invalid(format!(
            "params: the statement takes {wanted} parameter(s), {given} given"
        )),
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::OperationInterrupted => StoreError::QueryTimeout {
                limit_ms: timeout.as_millis(),
            },
            ErrorCode::AuthorizationForStatementDenied => invalid(
                refusal.unwrap_or_else(|| "the statement was refused by the query sandbox".into()),
            ),
            ErrorCode::ReadOnly => invalid(READ_ONLY_ONLY.into()),
            // SQLITE_ERROR: syntax errors, unknown tables or columns, bad function calls.
            ErrorCode::Unknown | ErrorCode::TooBig | ErrorCode::ConstraintViolation => {
                invalid(e.to_string())
            }
            _ => StoreError::Sqlite {
                op: "running a read-only query".into(),
                source: e,
            },
        },
        _ => invalid(e.to_string()),
    }
}

/// Lowercase names of the database's tables, views and indexes, read before the authorizer is
/// installed.
fn stored_tables(conn: &Connection) -> Result<HashSet<String>, StoreError> {
    conn.prepare("SELECT lower(name) FROM sqlite_schema")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .op("reading the schema for the query sandbox")
}

/// Ok for what user SQL may do; otherwise the reason it may not, in words for the caller.
fn authorize(ctx: &AuthContext<'_>, stored: &HashSet<String>) -> Result<(), String> {
    let readable = |table: &str| {
        READABLE_TABLES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(table))
    };
    let tables = || READABLE_TABLES.join(", ");
    // A read names its database, except a `count(*)`-style read, which names only the table
    // (a stored one, or a CTE whose own reads are checked apart): tell them apart by name.
    let stored = |table: &str| {
        let table = table.to_ascii_lowercase();
        ctx.database_name.is_some()
            || stored.contains(&table)
            || table.starts_with("sqlite_")
            || table.starts_with("pragma_")
    };
    match ctx.action {
        AuthAction::Read { table_name, .. } if !readable(table_name) && stored(table_name) => {
            Err(format!(
                "table {table_name:?} is not readable through queries (readable: {})",
                tables()
            ))
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Err("ATTACH and DETACH are refused".into())
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let allowed = ALLOWED_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name));
            match pragma_value {
                Some(table) if allowed && readable(table) => Ok(()),
                _ => Err(format!(
                    "PRAGMA {pragma_name} is refused (allowed: {} of the readable tables {})",
                    ALLOWED_PRAGMAS.join(", "),
                    tables()
                )),
            }
        }
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Ok(()),
        // Everything else writes or changes the connection.
        _ => Err(READ_ONLY_ONLY.into()),
    }
}

fn to_json(value: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => Value::String(miniledger_core::hex::encode(bytes)),
    }
}
