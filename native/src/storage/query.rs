//! `POST /state/query`: user-supplied SQL, sandboxed. It runs on its own connection opened
//! read-only, one statement at a time, only statements SQLite reports as read-only, with
//! ATTACH/DETACH and all but schema-introspection PRAGMAs refused by an authorizer, under a
//! deadline enforced by a progress handler, with the result capped at `max_rows`.

use super::error::{Context, StoreError};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// VM steps between deadline checks (a check costs a clock read, a step a few nanoseconds).
const PROGRESS_STEPS: i32 = 1_000;

/// PRAGMAs that only describe the schema; every other PRAGMA is refused.
const ALLOWED_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
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
        conn.authorizer(Some(authorize))
            .op("installing the query authorizer")?;
        Ok(ReadOnlyQuery { conn })
    }

    /// Runs ONE read-only statement, returning at most `max_rows` rows; a statement still
    /// running after `timeout` is interrupted with [`StoreError::QueryTimeout`]. Refusals and
    /// SQL errors are [`StoreError::InvalidQuery`].
    pub fn run(
        &mut self,
        sql: &str,
        max_rows: usize,
        timeout: Duration,
    ) -> Result<QueryResult, StoreError> {
        if sql.trim().is_empty() {
            return Err(StoreError::InvalidQuery("the query is empty".into()));
        }
        let deadline = Instant::now() + timeout;
        self.conn
            .progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))
            .op("installing the query deadline")?;
        let result = self.execute(sql, max_rows);
        self.conn
            .progress_handler(0, None::<fn() -> bool>)
            .op("removing the query deadline")?;
        result.map_err(|e| classify(e, timeout))
    }

    fn execute(&self, sql: &str, max_rows: usize) -> Result<QueryResult, QueryFailure> {
        let mut stmt = self.conn.prepare(sql)?;
        if !stmt.readonly() {
            return Err(QueryFailure::Refused(READ_ONLY_ONLY.into()));
        }
        let columns: Vec<String> = stmt.column_names().map(String::from).collect();
        let mut rows = stmt.query([])?;
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
fn classify(failure: QueryFailure, timeout: Duration) -> StoreError {
    let e = match failure {
        QueryFailure::Refused(reason) => return StoreError::InvalidQuery(reason),
        QueryFailure::Sqlite(e) => e,
    };
    let invalid = |msg: String| StoreError::InvalidQuery(msg);
    match &e {
        rusqlite::Error::MultipleStatement => invalid("only one statement is allowed".into()),
        rusqlite::Error::InvalidParameterCount(..) => {
            invalid("query parameters are not supported".into())
        }
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::OperationInterrupted => StoreError::QueryTimeout {
                limit_ms: timeout.as_millis(),
            },
            ErrorCode::AuthorizationForStatementDenied => invalid(format!(
                "{READ_ONLY_ONLY} (ATTACH, DETACH and PRAGMAs other than {} are refused)",
                ALLOWED_PRAGMAS.join(", ")
            )),
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

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        AuthAction::Pragma { pragma_name, .. } => {
            if ALLOWED_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name))
            {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Allow,
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
