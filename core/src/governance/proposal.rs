//! A proposal as stored at `_gov:proposal:ID`, and the actions governance carries out.

use super::Refusal;
use crate::raft::ConfigChange;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a proposal stands. Expiry is not written: a proposal still `active` past its
/// `expiresAt` height takes no more votes (readers show it as expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerAction {
    #[serde(rename = "type")]
    _type: String,
    #[serde(rename = "publicKey")]
    public_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigAction {
    #[serde(rename = "type")]
    _type: String,
    key: String,
    value: Box<serde_json::value::RawValue>,
}

impl Action {
    /// Parses a proposal's `action` object (JSON text).
    pub fn parse(text: &str) -> Result<Action, Refusal> {
        #[derive(Deserialize)]
        struct Tagged {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let bad = |detail: String| Refusal::Action(detail);
        let kind = serde_json::from_str::<Tagged>(text)
            .map_err(|e| bad(e.to_string()))?
            .kind
            .ok_or_else(|| bad("no \"type\"".into()))?;
        match kind.as_str() {
            "add-peer" | "remove-peer" => {
                let a: PeerAction =
                    serde_json::from_str(text).map_err(|e| bad(format!("{kind}: {e}")))?;
                crate::crypto::parse_key(&a.public_key)
                    .map_err(|e| Refusal::MalformedKey(format!("{:?}: {e}", a.public_key)))?;
                Ok(if kind == "add-peer" {
                    Action::AddPeer {
                        public_key: a.public_key,
                    }
                } else {
                    Action::RemovePeer {
                        public_key: a.public_key,
                    }
                })
            }
            "update-config" => {
                let a: ConfigAction =
                    serde_json::from_str(text).map_err(|e| bad(format!("{kind}: {e}")))?;
                if !CONFIG_KEYS.contains(&a.key.as_str()) {
                    return Err(bad(format!(
                        "update-config: unknown key {:?} (one of {CONFIG_KEYS:?})",
                        a.key
                    )));
                }
                let value = crate::canonical::canonicalize(a.value.get())
                    .map_err(|e| bad(format!("update-config: value: {e}")))?;
                Ok(Action::UpdateConfig { key: a.key, value })
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

    /// The action as stored (canonical JSON).
    pub fn to_json(&self) -> String {
        let text = match self {
            Action::AddPeer { public_key } | Action::RemovePeer { public_key } => {
                serde_json::json!({"type": self.name(), "publicKey": public_key}).to_string()
            }
            Action::UpdateConfig { key, value } => {
                format!(
                    r#"{{"type":"update-config","key":{},"value":{value}}}"#,
                    serde_json::to_string(key).expect("strings serialize")
                )
            }
        };
        crate::canonical::canonicalize(&text).expect("valid JSON")
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
    pub votes: BTreeMap<String, bool>,
    /// The height that decided it.
    pub decided_at: Option<u64>,
    /// Why an approved action was not carried out (it no longer applied).
    pub outcome: Option<String>,
}

/// The stored JSON shape (0.2's field names).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    description: String,
    proposer: String,
    action: Box<serde_json::value::RawValue>,
    status: Status,
    created_at: u64,
    expires_at: u64,
    votes: BTreeMap<String, bool>,
    decided_at: Option<u64>,
    outcome: Option<String>,
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
            votes: BTreeMap::from([(proposer.to_string(), true)]),
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
                .filter(|k| self.votes.get(*k) == Some(&want))
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

    pub fn to_json(&self) -> String {
        let stored = Stored {
            id: self.id.clone(),
            kind: self.action.name().into(),
            title: self.title.clone(),
            description: self.description.clone(),
            proposer: self.proposer.clone(),
            action: serde_json::value::RawValue::from_string(self.action.to_json())
                .expect("valid JSON"),
            status: self.status,
            created_at: self.created_at,
            expires_at: self.expires_at,
            votes: self.votes.clone(),
            decided_at: self.decided_at,
            outcome: self.outcome.clone(),
        };
        let text = serde_json::to_string(&stored).expect("proposals serialize");
        crate::canonical::canonicalize(&text).expect("valid JSON")
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Stored::deserialize(d)?;
        let action = Action::parse(s.action.get()).map_err(serde::de::Error::custom)?;
        Ok(Proposal {
            id: s.id,
            title: s.title,
            description: s.description,
            proposer: s.proposer,
            action,
            status: s.status,
            created_at: s.created_at,
            expires_at: s.expires_at,
            votes: s.votes,
            decided_at: s.decided_at,
            outcome: s.outcome,
        })
    }
}
