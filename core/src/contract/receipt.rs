//! What a contract transaction leaves besides its writes: success with a result, or failure with
//! a named reason. A failed call is still a committed transaction; only its writes are dropped.

/// Why a call failed. `reason()` is the stable text receipts and the API carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The operation budget ran out (also: one function call ran past its loop-iteration limit).
    OutOfGas,
    /// A string, array or value past the size limits.
    Memory,
    /// Call depth or the engine's value stack past their limits.
    Stack,
    /// No contract under that name: nothing at `_contract_code:NAME`, or not a JSON string.
    NotFound,
    /// The contract has no such method.
    MethodNotFound,
    /// The contract threw (or the engine refused something, e.g. a value that is not JSON).
    Exception(String),
    /// The code does not compile, or its top level does not return an object of functions.
    Compile(String),
    /// A new version by someone other than the original deployer.
    NotDeployer,
    /// A contract name that is empty, too long, or has characters outside `[A-Za-z0-9_.-]`.
    InvalidName,
    /// A write to a key reserved for contract metadata and code, or an empty or too long key.
    ReservedKey(String),
    /// More distinct keys written than the limit.
    WriteLimit,
    /// More log lines or log bytes than the limit.
    LogLimit,
    /// The engine panicked (a Boa bug reached by the contract); caught, the context rebuilt.
    EngineFault,
}

impl Failure {
    pub fn reason(&self) -> String {
        match self {
            Failure::OutOfGas => "contract.out-of-gas".into(),
            Failure::Memory => "contract.memory".into(),
            Failure::Stack => "contract.stack".into(),
            Failure::NotFound => "contract.not-found".into(),
            Failure::MethodNotFound => "contract.method-not-found".into(),
            Failure::Exception(m) => format!("contract.exception: {m}"),
            Failure::Compile(m) => format!("contract.compile: {m}"),
            Failure::NotDeployer => "contract.not-deployer".into(),
            Failure::InvalidName => "contract.invalid-name".into(),
            Failure::ReservedKey(k) => format!("contract.reserved-key: {k}"),
            Failure::WriteLimit => "contract.write-limit".into(),
            Failure::LogLimit => "contract.log-limit".into(),
            Failure::EngineFault => "contract.engine-fault".into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The method's return value as canonical JSON (`None` when it returned `undefined`).
    Success {
        result: Option<String>,
    },
    Failed(Failure),
}

/// The receipt of one contract transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: Outcome,
    /// Operation units used, in steps of [`super::GAS_STEP`]; equal on every node.
    pub gas_used: u64,
    /// `ctx.log` lines (kept on failure too: they say how far the call got).
    pub logs: Vec<String>,
}

impl Receipt {
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Success { .. })
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.outcome {
            Outcome::Failed(f) => Some(f),
            Outcome::Success { .. } => None,
        }
    }

    /// The receipt as stored at `_receipt:TXHASH` (canonical JSON): `{status: "success",
    /// result, gasUsed, logs}` or `{status: "failed", error: <reason>, gasUsed, logs}`
    /// (`result` is null when the method returned `undefined`).
    pub fn to_json(&self) -> String {
        let mut text = String::from("{");
        match &self.outcome {
            Outcome::Success { result } => {
                text.push_str(r#""status":"success","result":"#);
                text.push_str(result.as_deref().unwrap_or("null"));
            }
            Outcome::Failed(f) => {
                text.push_str(r#""status":"failed","error":"#);
                text.push_str(&serde_json::to_string(&f.reason()).expect("strings serialize"));
            }
        }
        text.push_str(&format!(r#","gasUsed":{},"logs":"#, self.gas_used));
        text.push_str(&serde_json::to_string(&self.logs).expect("strings serialize"));
        text.push('}');
        crate::canonical::canonicalize(&text).expect("receipt JSON is valid")
    }
}
