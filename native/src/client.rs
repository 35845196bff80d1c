//! The client subcommands (`status`, `tx submit`, `query`, `contract`, `governance`,
//! `peers list`): HTTP calls to a
//! running node's REST API, printed for people (`query --json` for scripts).

use crate::cli::{ApiArgs, OperatorArgs, ProposeArgs};
use crate::identity::OperatorToken;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// A node's REST API at a base URL such as `http://127.0.0.1:3000` or `https://…`.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    operator: OperatorArgs,
}

impl Client {
    /// `https://` URLs are verified against `--ca` if given, else the public web PKI roots.
    pub fn new(args: &ApiArgs) -> Result<Self, String> {
        let mut agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = &args.ca {
            agent = agent.tls_config(crate::tls::client_config(&[ca.as_path()])?);
        }
        Ok(Client {
            base: args.api.trim_end_matches('/').to_string(),
            agent: agent.build(),
            operator: args.operator.clone(),
        })
    }

    /// A POST the node may only take from its operator: it carries the operator token when
    /// one is found (`--token-file`, `$MINILEDGER_OPERATOR_TOKEN`, `<data-dir>/operator.token`).
    /// Only these requests carry it, so other calls never hand it to whatever `--api` names.
    pub fn post_as_operator(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut request = self.agent.post(&self.url(path));
        if let Some(token) = operator_token(&self.operator)? {
            request = request.set("Authorization", &format!("Bearer {}", token.expose()));
        }
        self.answer(request.send_json(body))
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        self.answer(self.agent.get(&self.url(path)).call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.answer(self.agent.post(&self.url(path)).send_json(body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, result: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
        match result {
            Ok(response) => response.into_json().map_err(|e| {
                format!(
                    "the node API at {} answered with invalid JSON: {e}",
                    self.base
                )
            }),
            Err(ureq::Error::Status(code, response)) => {
                let body: Option<Value> = response.into_json().ok();
                let message = body
                    .as_ref()
                    .and_then(|b| b.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("no error message")
                    .to_string();
                Err(format!(
                    "the node refused the request (HTTP {code}): {message}"
                ))
            }
            Err(ureq::Error::Transport(e)) => {
                Err(format!("cannot reach the node API at {}: {e}", self.base))
            }
        }
    }
}

/// `miniledger status`
pub fn status(api: &ApiArgs) -> Result<(), String> {
    let s = Client::new(api)?.get("/status")?;
    let text = |key: &str| match s.get(key) {
        Some(Value::String(v)) => v.clone(),
        Some(v) => v.to_string(),
        None => "?".into(),
    };
    let syncing = if s.get("syncing") == Some(&Value::Bool(true)) {
        format!("yes (target {})", text("syncTarget"))
    } else {
        "no".into()
    };
    let uptime = s.get("uptimeMs").and_then(Value::as_u64).unwrap_or(0) / 1000;
    println!("node        {} (org {})", text("nodeId"), text("orgId"));
    println!("public key  {}", text("publicKey"));
    println!("height      {}", text("height"));
    println!("tip         {}", text("tipHash"));
    println!("peers       {}", text("peers"));
    println!("mempool     {}", text("mempool"));
    println!("syncing     {syncing}");
    println!("consensus   {} ({})", text("consensus"), text("role"));
    println!("version     {}", text("version"));
    println!("uptime      {uptime} s");
    Ok(())
}

/// `miniledger tx submit <json>`: any shape `POST /tx` takes.
pub fn submit(api: &ApiArgs, json: &str) -> Result<(), String> {
    let body: Value = serde_json::from_str(json)
        .map_err(|e| format!("the transaction is not valid JSON: {e}"))?;
    if !body.is_object() {
        return Err("the transaction must be a JSON object".into());
    }
    let client = Client::new(api)?;
    // A signed transaction needs no token: only what the node signs does.
    let signed = ["hash", "signature", "sender"]
        .iter()
        .any(|k| body.get(*k).is_some());
    let answer = if signed {
        client.post("/tx", &body)?
    } else {
        client.post_as_operator("/tx", &body)?
    };
    println!("{answer}");
    Ok(())
}

/// `miniledger contract deploy FILE --name N [--version V]`
pub fn contract_deploy(
    api: &ApiArgs,
    file: &Path,
    name: &str,
    version: &str,
) -> Result<(), String> {
    let code = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the contract {}: {e}", file.display()))?;
    let payload =
        json!({"kind": "contract:deploy", "name": name, "version": version, "code": code});
    contract_call(api, payload)
}

/// `miniledger contract invoke NAME METHOD [ARGS…]`
pub fn contract_invoke(
    api: &ApiArgs,
    name: &str,
    method: &str,
    args: &[String],
) -> Result<(), String> {
    let args: Vec<Value> = args.iter().map(|a| contract_arg(a)).collect();
    let payload =
        json!({"kind": "contract:invoke", "contract": name, "method": method, "args": args});
    contract_call(api, payload)
}

/// An argument as the user typed it: JSON if it parses as JSON, else the string itself (so
/// `bob` needs no quotes, and `"42"` is the string 42).
fn contract_arg(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Submits a contract payload for the node to sign, waits for the commit and prints the
/// answer with its receipt; a failed receipt is an error (exit status 1) naming the reason.
fn contract_call(api: &ApiArgs, payload: Value) -> Result<(), String> {
    let kind = payload["kind"].clone();
    let body = json!({"type": kind, "payload": payload});
    let answer = Client::new(api)?.post_as_operator("/tx?wait=commit", &body)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).expect("JSON prints")
    );
    match answer.pointer("/receipt/status").and_then(Value::as_str) {
        Some("success") => Ok(()),
        Some(_) => Err(format!(
            "the call failed: {}",
            answer
                .pointer("/receipt/error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )),
        None => Err("the node answered without a receipt".into()),
    }
}

/// `miniledger contract list`
pub fn contract_list(api: &ApiArgs) -> Result<(), String> {
    let answer = Client::new(api)?.get("/contracts")?;
    let rows: Vec<Vec<String>> = answer["contracts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    ["name", "version", "deployedBy", "deployedAt"]
                        .map(|k| cell(&c[k]))
                        .to_vec()
                })
                .collect()
        })
        .unwrap_or_default();
    let columns = ["name", "version", "deployedBy", "deployedAt"].map(String::from);
    print!("{}", table(&columns, &rows));
    Ok(())
}

/// `miniledger contract show NAME`
pub fn contract_show(api: &ApiArgs, name: &str) -> Result<(), String> {
    let c = Client::new(api)?.get(&format!("/contracts/{name}"))?;
    println!("name         {}", cell(&c["name"]));
    println!("version      {}", cell(&c["version"]));
    println!("deployed by  {}", cell(&c["deployedBy"]));
    println!(
        "deployed at  {} (block {})",
        cell(&c["deployedAt"]),
        cell(&c["blockHeight"])
    );
    println!("\n{}", c["code"].as_str().unwrap_or(""));
    Ok(())
}

/// `miniledger governance propose --add-peer KEY | --remove-peer KEY | --config KEY=JSON
/// --title T [--description D]`
pub fn governance_propose(args: &ProposeArgs) -> Result<(), String> {
    let action = match (&args.add_peer, &args.remove_peer, &args.config) {
        (Some(key), _, _) => json!({"type": "add-peer", "publicKey": key}),
        (_, Some(key), _) => json!({"type": "remove-peer", "publicKey": key}),
        (_, _, Some(setting)) => {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("--config {setting:?}: expected KEY=JSON"))?;
            json!({"type": "update-config", "key": key, "value": contract_arg(value)})
        }
        (None, None, None) => return Err("no action: --add-peer, --remove-peer or --config".into()),
    };
    let payload = json!({
        "kind": "governance:propose",
        "title": args.title,
        "description": args.description,
        "action": action,
    });
    let result = governance_call(&args.api, payload)?;
    println!("proposal {}", cell(&result["proposalId"]));
    println!("status   {}", cell(&result["proposalStatus"]));
    Ok(())
}

/// `miniledger governance vote ID yes|no`
pub fn governance_vote(api: &ApiArgs, id: &str, yes: bool) -> Result<(), String> {
    let payload = json!({"kind": "governance:vote", "proposalId": id, "vote": yes});
    let result = governance_call(api, payload)?;
    println!("voted {} on proposal {id}", if yes { "yes" } else { "no" });
    println!("status   {}", cell(&result["proposalStatus"]));
    Ok(())
}

/// Submits a governance payload for the node to sign and waits for the commit; the receipt's
/// `result` (`proposalId`, `proposalStatus`), or an error naming the rule that refused it
/// (at admission, or in a failed receipt).
fn governance_call(api: &ApiArgs, payload: Value) -> Result<Value, String> {
    let body = json!({"type": payload["kind"].clone(), "payload": payload});
    let answer = Client::new(api)?.post_as_operator("/tx?wait=commit", &body)?;
    match answer.pointer("/receipt/status").and_then(Value::as_str) {
        Some("success") => Ok(answer["receipt"]["result"].clone()),
        Some(_) => Err(format!(
            "refused in block {}: {}",
            cell(&answer["blockHeight"]),
            answer
                .pointer("/receipt/error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        )),
        None => Err(format!(
            "the node answered without a receipt (a network where governance is only \
             recorded?): {answer}"
        )),
    }
}

/// Yes and no votes of a proposal.
fn vote_counts(proposal: &Value) -> (usize, usize) {
    let votes: Vec<&Value> = proposal["votes"]
        .as_object()
        .map(|v| v.values().collect())
        .unwrap_or_default();
    let yes = votes.iter().filter(|v| v.as_bool() == Some(true)).count();
    (yes, votes.len() - yes)
}

/// `miniledger governance list`: every page of `GET /proposals`.
pub fn governance_list(api: &ApiArgs) -> Result<(), String> {
    let client = Client::new(api)?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut page = 1;
    loop {
        let answer = client.get(&format!("/proposals?limit=1000&page={page}"))?;
        for p in answer["proposals"].as_array().into_iter().flatten() {
            let (yes, no) = vote_counts(p);
            let id = p["id"].as_str().unwrap_or_default();
            rows.push(vec![
                id.chars().take(16).collect(),
                cell(&p["type"]),
                cell(&p["status"]),
                yes.to_string(),
                no.to_string(),
                cell(&p["title"]),
            ]);
        }
        if page >= answer["totalPages"].as_u64().unwrap_or(0) {
            break;
        }
        page += 1;
    }
    if rows.is_empty() {
        println!("no proposals");
        return Ok(());
    }
    let columns = ["ID", "TYPE", "STATUS", "YES", "NO", "TITLE"].map(String::from);
    print!("{}", table(&columns, &rows));
    Ok(())
}

/// `miniledger governance show ID`
pub fn governance_show(api: &ApiArgs, id: &str) -> Result<(), String> {
    let p = Client::new(api)?.get(&format!("/proposals/{id}"))?;
    let (yes, no) = vote_counts(&p);
    println!("id           {}", cell(&p["id"]));
    println!("type         {}", cell(&p["type"]));
    println!("title        {}", cell(&p["title"]));
    println!("description  {}", cell(&p["description"]));
    println!("proposer     {}", cell(&p["proposer"]));
    println!("action       {}", cell(&p["action"]));
    println!("status       {}", cell(&p["status"]));
    println!("created at   block {}", cell(&p["createdAt"]));
    println!("expires at   block {}", cell(&p["expiresAt"]));
    if !p["decidedAt"].is_null() {
        println!("decided at   block {}", cell(&p["decidedAt"]));
    }
    if !p["outcome"].is_null() {
        println!("outcome      {}", cell(&p["outcome"]));
    }
    println!("votes        {yes} yes, {no} no");
    for (key, vote) in p["votes"].as_object().into_iter().flatten() {
        let vote = if vote.as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        };
        println!("  {key}  {vote}");
    }
    Ok(())
}

/// Environment variable that may hold the operator token itself.
pub const TOKEN_ENV: &str = "MINILEDGER_OPERATOR_TOKEN";

/// The operator token from the first place that has one; None if none does.
fn operator_token(args: &OperatorArgs) -> Result<Option<OperatorToken>, String> {
    if let Some(file) = &args.token_file {
        return OperatorToken::read(file)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("--token-file {}: no such file", file.display()))
            .map(Some);
    }
    if let Ok(text) = std::env::var(TOKEN_ENV) {
        return OperatorToken::parse(text.trim())
            .map(Some)
            .map_err(|e| format!("${TOKEN_ENV}: {e}"));
    }
    // The default data directory may simply not be this node's: then there is no token.
    Ok(OperatorToken::read(&OperatorToken::path(&args.data_dir)).unwrap_or(None))
}

/// `miniledger query <sql>`
pub fn query(api: &ApiArgs, sql: &str, as_json: bool) -> Result<(), String> {
    let answer = Client::new(api)?.post("/state/query", &serde_json::json!({ "sql": sql }))?;
    if as_json {
        println!("{}", answer.get("results").unwrap_or(&Value::Null));
        return Ok(());
    }
    let columns: Vec<String> = answer
        .get("columns")
        .and_then(Value::as_array)
        .map(|c| c.iter().map(cell).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = answer
        .get("rows")
        .and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    row.as_array()
                        .map(|r| r.iter().map(cell).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    print!("{}", table(&columns, &rows));
    let truncated = if answer.get("truncated") == Some(&Value::Bool(true)) {
        ", truncated"
    } else {
        ""
    };
    let plural = if rows.len() == 1 { "" } else { "s" };
    println!("({} row{plural}{truncated})", rows.len());
    Ok(())
}

/// `miniledger peers list`
pub fn peers(api: &ApiArgs) -> Result<(), String> {
    let answer = Client::new(api)?.get("/peers")?;
    let peers = answer
        .get("peers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if peers.is_empty() {
        println!("no peers connected");
        return Ok(());
    }
    let columns: Vec<String> = [
        "NODE ID",
        "ORG",
        "DIRECTION",
        "HEIGHT",
        "LIGHT",
        "AUTH",
        "ADDRESS",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            [
                "nodeId",
                "orgId",
                "direction",
                "chainHeight",
                "light",
                "authenticated",
                "address",
            ]
            .iter()
            .map(|k| p.get(*k).map(cell).unwrap_or_default())
            .collect()
        })
        .collect();
    print!("{}", table(&columns, &rows));
    Ok(())
}

/// A value as a table cell: strings bare, null empty, the rest as JSON; on one line.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    text.replace('\n', "\\n")
}

/// Left-aligned columns separated by two spaces, a dashed line under the header.
fn table(columns: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(value.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(columns);
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&dashes));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let columns = vec!["key".to_string(), "n".to_string()];
        let rows = vec![
            vec!["alpha".to_string(), "1".to_string()],
            vec!["b".to_string(), "22".to_string()],
        ];
        assert_eq!(
            table(&columns, &rows),
            "key    n\n-----  --\nalpha  1\nb      22\n"
        );
    }

    #[test]
    fn cells() {
        assert_eq!(cell(&Value::String("a\nb".into())), "a\\nb");
        assert_eq!(cell(&Value::Null), "");
        assert_eq!(cell(&serde_json::json!({"x": 1})), r#"{"x":1}"#);
    }
}
