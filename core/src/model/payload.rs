//! Transaction payloads. The raw JSON text is kept as received: the hash covers every payload
//! field (unknown ones too) in the reference's canonical form, and JSON values may hold what a
//! Rust `String` cannot (lone surrogates). The typed [`PayloadBody`] is checked once, at decode.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A payload: its JSON text (authoritative for hashing) and its typed reading.
#[derive(Debug, Clone)]
pub struct Payload {
    raw: Box<RawValue>,
    body: PayloadBody,
}

/// The six payload kinds, with the reference's field names. Values that are arbitrary JSON stay
/// raw JSON text.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind")]
pub enum PayloadBody {
    #[serde(rename = "state:set")]
    StateSet { key: String, value: Box<RawValue> },
    #[serde(rename = "state:delete")]
    StateDelete { key: String },
    #[serde(rename = "contract:deploy")]
    ContractDeploy {
        name: String,
        version: String,
        code: String,
    },
    #[serde(rename = "contract:invoke")]
    ContractInvoke {
        contract: String,
        method: String,
        args: Box<RawValue>,
    },
    #[serde(rename = "governance:propose")]
    GovernancePropose {
        title: String,
        description: String,
        action: Box<RawValue>,
    },
    #[serde(rename = "governance:vote")]
    GovernanceVote {
        #[serde(rename = "proposalId")]
        proposal_id: String,
        vote: bool,
    },
}

pub const KINDS: [&str; 6] = [
    "state:set",
    "state:delete",
    "contract:deploy",
    "contract:invoke",
    "governance:propose",
    "governance:vote",
];

impl PayloadBody {
    /// A governance proposal or vote (executed by `governance` on our networks).
    pub fn is_governance(&self) -> bool {
        matches!(
            self,
            PayloadBody::GovernancePropose { .. } | PayloadBody::GovernanceVote { .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PayloadBody::StateSet { .. } => KINDS[0],
            PayloadBody::StateDelete { .. } => KINDS[1],
            PayloadBody::ContractDeploy { .. } => KINDS[2],
            PayloadBody::ContractInvoke { .. } => KINDS[3],
            PayloadBody::GovernancePropose { .. } => KINDS[4],
            PayloadBody::GovernanceVote { .. } => KINDS[5],
        }
    }

    /// `state:set` of a JSON value given as text.
    pub fn state_set(key: impl Into<String>, value_json: &str) -> Result<Self, serde_json::Error> {
        Ok(PayloadBody::StateSet {
            key: key.into(),
            value: RawValue::from_string(value_json.to_string())?,
        })
    }

    /// Reads a payload object, checking the fields its kind requires.
    fn from_raw(raw: &RawValue) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        #[derive(Deserialize)]
        struct StateSet {
            key: String,
            value: Box<RawValue>,
        }
        #[derive(Deserialize)]
        struct StateDelete {
            key: String,
        }
        #[derive(Deserialize)]
        struct Deploy {
            name: String,
            version: String,
            code: String,
        }
        #[derive(Deserialize)]
        struct Invoke {
            contract: String,
            method: String,
            args: Box<RawValue>,
        }
        #[derive(Deserialize)]
        struct Propose {
            title: String,
            description: String,
            action: Box<RawValue>,
        }
        #[derive(Deserialize)]
        struct Vote {
            #[serde(rename = "proposalId")]
            proposal_id: String,
            vote: bool,
        }
        fn read<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
            crate::decode::from_json(text).map_err(|e| e.to_string())
        }
        let text = raw.get();
        let kind: Kind = read(text)?;
        Ok(match kind.kind.as_ref() {
            "state:set" => {
                let p: StateSet = read(text)?;
                PayloadBody::StateSet {
                    key: p.key,
                    value: p.value,
                }
            }
            "state:delete" => PayloadBody::StateDelete {
                key: read::<StateDelete>(text)?.key,
            },
            "contract:deploy" => {
                let p: Deploy = read(text)?;
                PayloadBody::ContractDeploy {
                    name: p.name,
                    version: p.version,
                    code: p.code,
                }
            }
            "contract:invoke" => {
                let p: Invoke = read(text)?;
                expect_json_kind(&p.args, '[', "args", "an array")?;
                PayloadBody::ContractInvoke {
                    contract: p.contract,
                    method: p.method,
                    args: p.args,
                }
            }
            "governance:propose" => {
                let p: Propose = read(text)?;
                expect_json_kind(&p.action, '{', "action", "an object")?;
                PayloadBody::GovernancePropose {
                    title: p.title,
                    description: p.description,
                    action: p.action,
                }
            }
            "governance:vote" => {
                let p: Vote = read(text)?;
                PayloadBody::GovernanceVote {
                    proposal_id: p.proposal_id,
                    vote: p.vote,
                }
            }
            other => {
                return Err(format!(
                    "kind: unknown payload kind {other:?} (expected one of {KINDS:?})"
                ))
            }
        })
    }
}

fn expect_json_kind(raw: &RawValue, open: char, field: &str, what: &str) -> Result<(), String> {
    if raw.get().starts_with(open) {
        Ok(())
    } else {
        Err(format!("{field}: expected {what}"))
    }
}

impl Payload {
    pub fn body(&self) -> &PayloadBody {
        &self.body
    }

    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// The payload's JSON text as received (or as built).
    pub fn json(&self) -> &str {
        self.raw.get()
    }

    /// Parses a payload from JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw = RawValue::from_string(text.to_string()).map_err(|e| e.to_string())?;
        Self::from_raw_value(raw)
    }

    fn from_raw_value(raw: Box<RawValue>) -> Result<Self, String> {
        if !raw.get().starts_with('{') {
            return Err("expected an object".into());
        }
        let body = PayloadBody::from_raw(&raw)?;
        Ok(Payload { raw, body })
    }
}

impl From<PayloadBody> for Payload {
    fn from(body: PayloadBody) -> Self {
        let text = serde_json::to_string(&body).expect("payload bodies always serialize");
        let raw = RawValue::from_string(text).expect("serde_json output is valid JSON");
        Payload { raw, body }
    }
}

/// Equal when the canonical forms (what the hash covers) are equal.
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.raw.get() == other.raw.get()
            || crate::canonical::canonicalize(self.raw.get())
                == crate::canonical::canonicalize(other.raw.get())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Payload::from_raw_value(raw).map_err(D::Error::custom)
    }
}
