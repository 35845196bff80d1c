//! A proposal as stored at `_gov:proposal:ID`, and the actions governance carries out.

use super::Refusal;
use crate::canonical;
use crate::raft::ConfigChange;
use serde_json::Value;

/// Votes by public key, sorted (a vector, not a map: fewer generic instances in the light
/// node's wasm, and a validator set is small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Votes(Vec<(String, bool)>);

impl Votes {
    pub fn get(&self, key: &str) -> Option<bool> {
        self.find(key).ok().map(|i| self.0[i].1)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key`'s vote.
    pub fn insert(&mut self, key: String, vote: bool) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = vote,
            Err(i) => self.0.insert(i, (key, vote)),
        }
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &bool)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }
}

/// Where a proposal stands. Expiry is not written: a proposal still `active` past its
/// `expiresAt` height takes no more votes (readers show it as expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Approved,
    Rejected,
    Expired,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }
}

/// What an approved proposal does (`action.type`, as MiniLedger 0.2 names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `{type: "add-peer", publicKey}`: a new validator.
    AddPeer { public_key: String },
    /// `{type: "remove-peer", publicKey}`.
    RemovePeer { public_key: String },
    /// `{type: "update-config", key, value}`: `value` (canonical JSON) stored at
    /// `_gov:config:KEY`.
    UpdateConfig { key: String, value: String },
}

/// Configuration keys `update-config` may set.
pub const CONFIG_KEYS: [&str; 2] = ["allowedKeys", "allowedOrgs"];

impl Action {
    /// Parses a proposal's `action` object (JSON text).
    pub fn parse(text: &str) -> Result<Action, Refusal> {
        // Through `Value`, not derived deserializers: the light node's wasm carries this code,
        // and `Value` is in it already (derives cost ~10 KB gzipped there).
        let bad = |detail: String| Refusal::Action(detail);
        let value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(bad("not an object".into()));
        };
        let Some(Value::String(kind)) = fields.get("type") else {
            return Err(bad("no \"type\" string".into()));
        };
        let only = |names: &[&str]| match fields.keys().find(|k| !names.contains(&k.as_str())) {
            Some(extra) => Err(bad(format!("{kind}: unknown field {extra:?}"))),
            None => Ok(()),
        };
        match kind.as_str() {
            "add-peer" | "remove-peer" => {
                only(&["type", "publicKey"])?;
                let Some(Value::String(key)) = fields.get("publicKey") else {
                    return Err(bad(format!("{kind}: \"publicKey\" must be a string")));
                };
                crate::crypto::parse_key(key)
                    .map_err(|e| Refusal::MalformedKey(format!("{key:?}: {e}")))?;
                let public_key = key.clone();
                Ok(if kind == "add-peer" {
                    Action::AddPeer { public_key }
                } else {
                    Action::RemovePeer { public_key }
                })
            }
            "update-config" => {
                only(&["type", "key", "value"])?;
                let (Some(Value::String(key)), Some(value)) =
                    (fields.get("key"), fields.get("value"))
                else {
                    return Err(bad(
                        "update-config: needs a \"key\" string and a \"value\"".into()
                    ));
                };
                if !CONFIG_KEYS.contains(&key.as_str()) {
                    return Err(bad(format!(
                        "update-config: unknown key {key:?} (one of {CONFIG_KEYS:?})"
                    )));
                }
                let value = crate::canonical::canonicalize(&value.to_string())
                    .map_err(|e| bad(format!("update-config: value: {e}")))?;
                Ok(Action::UpdateConfig {
                    key: key.clone(),
                    value,
                })
            }
            other => Err(bad(format!(
                "unknown type {other:?} (add-peer, remove-peer or update-config)"
            ))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::AddPeer { .. } => "add-peer",
            Action::RemovePeer { .. } => "remove-peer",
            Action::UpdateConfig { .. } => "update-config",
        }
    }

    /// The action as stored (canonical JSON: keys in order).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        match self {
            Action::AddPeer { public_key } | Action::RemovePeer { public_key } => {
                out.push_str(r#"{"publicKey":"#);
                canonical::write_string(&mut out, public_key);
                out.push_str(r#","type":"#);
                canonical::write_string(&mut out, self.name());
            }
            Action::UpdateConfig { key, value } => {
                out.push_str(r#"{"key":"#);
                canonical::write_string(&mut out, key);
                out.push_str(r#","type":"update-config","value":"#);
                out.push_str(value);
            }
        }
        out.push('}');
        out
    }

    /// The validator-set change an approved `add-peer` / `remove-peer` makes.
    pub fn membership_change(&self) -> Option<ConfigChange> {
        match self {
            Action::AddPeer { public_key } => Some(ConfigChange::AddValidator(public_key.clone())),
            Action::RemovePeer { public_key } => {
                Some(ConfigChange::RemoveValidator(public_key.clone()))
            }
            Action::UpdateConfig { .. } => None,
        }
    }
}

/// `_gov:proposal:ID`'s value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The proposing transaction's hash.
    pub id: String,
    pub title: String,
    pub description: String,
    /// The proposer's public key.
    pub proposer: String,
    pub action: Action,
    pub status: Status,
    /// Heights: the proposing block, and the last that takes votes.
    pub created_at: u64,
    pub expires_at: u64,
    /// Public key → yes (true) or no.
    pub votes: Votes,
    /// The height that decided it.
    pub decided_at: Option<u64>,
    /// Why an approved action was not carried out (it no longer applied).
    pub outcome: Option<String>,
}

impl Proposal {
    pub fn new(
        id: String,
        title: &str,
        description: &str,
        proposer: &str,
        action: Action,
        created_at: u64,
        expires_at: u64,
    ) -> Proposal {
        Proposal {
            id,
            title: title.into(),
            description: description.into(),
            proposer: proposer.into(),
            action,
            status: Status::Active,
            created_at,
            expires_at,
            votes: Votes(vec![(proposer.to_string(), true)]),
            decided_at: None,
            outcome: None,
        }
    }

    /// The status the votes give against `set` (the validator set in force): approved once
    /// more than half of it voted yes, rejected once that cannot happen. Votes of keys no
    /// longer in the set do not count.
    pub fn tally(&self, set: &[String]) -> Status {
        let counted = |want: bool| {
            set.iter()
                .filter(|k| self.votes.get(k) == Some(want))
                .count()
        };
        let (yes, no) = (counted(true), counted(false));
        let majority = set.len() / 2 + 1;
        if yes >= majority {
            Status::Approved
        } else if set.len() - no < majority {
            Status::Rejected
        } else {
            Status::Active
        }
    }

    /// The effective status at `height`: an active proposal past its expiry is expired.
    pub fn status_at(&self, height: u64) -> Status {
        match self.status {
            Status::Active if height > self.expires_at => Status::Expired,
            status => status,
        }
    }

    /// The stored value (canonical JSON, 0.2's field names).
    pub fn to_json(&self) -> String {
        // Written by hand (no map: this code is in the light node's wasm too), then
        // canonicalized (keys sorted, checked).
        let mut out = String::from("{\"action\":");
        out.push_str(&self.action.to_json());
        let field = |out: &mut String, name: &str| {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
        };
        let number = |out: &mut String, n: Option<u64>| match n {
            Some(n) => canonical::write_u64(out, n),
            None => out.push_str("null"),
        };
        field(&mut out, "createdAt");
        number(&mut out, Some(self.created_at));
        field(&mut out, "decidedAt");
        number(&mut out, self.decided_at);
        field(&mut out, "description");
        canonical::write_string(&mut out, &self.description);
        field(&mut out, "expiresAt");
        number(&mut out, Some(self.expires_at));
        field(&mut out, "id");
        canonical::write_string(&mut out, &self.id);
        field(&mut out, "outcome");
        match &self.outcome {
            Some(text) => canonical::write_string(&mut out, text),
            None => out.push_str("null"),
        }
        field(&mut out, "proposer");
        canonical::write_string(&mut out, &self.proposer);
        field(&mut out, "status");
        canonical::write_string(&mut out, self.status.name());
        field(&mut out, "title");
        canonical::write_string(&mut out, &self.title);
        field(&mut out, "type");
        canonical::write_string(&mut out, self.action.name());
        field(&mut out, "votes");
        out.push('{');
        for (i, (key, yes)) in self.votes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            canonical::write_string(&mut out, key);
            out.push_str(if *yes { ":true" } else { ":false" });
        }
        out.push_str("}}");
        canonical::canonicalize(&out).expect("valid JSON")
    }

    /// A stored value read back (None if it is not one).
    pub fn from_json(text: &str) -> Option<Proposal> {
        let value: Value = serde_json::from_str(text).ok()?;
        let text_of = |k: &str| value.get(k)?.as_str().map(str::to_string);
        let status = match value.get("status")?.as_str()? {
            "active" => Status::Active,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            "expired" => Status::Expired,
            _ => return None,
        };
        let mut votes = Votes::default();
        for (key, vote) in value.get("votes")?.as_object()? {
            votes.insert(key.clone(), vote.as_bool()?);
        }
        Some(Proposal {
            id: text_of("id")?,
            title: text_of("title")?,
            description: text_of("description")?,
            proposer: text_of("proposer")?,
            action: Action::parse(&value.get("action")?.to_string()).ok()?,
            status,
            created_at: value.get("createdAt")?.as_u64()?,
            expires_at: value.get("expiresAt")?.as_u64()?,
            votes,
            decided_at: value.get("decidedAt").and_then(Value::as_u64),
            outcome: text_of("outcome"),
        })
    }
}
