//! The sans-IO entry point the block pipeline calls for each contract transaction.

use super::cache::ModuleCache;
use super::engine::{Engine, RunEnd, StateGuard};
use super::receipt::{Failure, Outcome, Receipt};
use super::registry::{self, ContractMeta};
use super::{Limits, TxContext, Write, GAS_STEP};
use crate::model::PayloadBody;
use crate::state::StateView;

/// A call's receipt and the writes to apply (none unless it succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub receipt: Receipt,
    pub writes: Vec<Write>,
}

/// Executes `contract:deploy` and `contract:invoke` payloads. Keeps a hardened engine and a
/// bounded cache of compiled modules; both are invisible to results (every call starts from
/// the same frozen realm and a fresh module), so nodes with different cache histories agree.
pub struct ContractRuntime {
    limits: Limits,
    engine: Option<Engine>,
    cache: ModuleCache,
}

impl ContractRuntime {
    pub fn new(limits: Limits) -> Self {
        ContractRuntime {
            cache: ModuleCache::new(limits.cached_modules),
            limits,
            engine: None,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiled modules currently cached.
    pub fn cached_modules(&self) -> usize {
        self.cache.len()
    }

    /// Runs a contract payload against `state` (as of before this transaction). `None` for
    /// payloads that are not contract calls.
    pub fn execute(
        &mut self,
        state: &dyn StateView,
        tx: &TxContext,
        payload: &PayloadBody,
    ) -> Option<Execution> {
        Some(match payload {
            PayloadBody::ContractDeploy {
                name,
                version,
                code,
            } => self.deploy(state, tx, name, version, code),
            PayloadBody::ContractInvoke {
                contract,
                method,
                args,
            } => self.invoke(state, tx, contract, method, args.get()),
            _ => return None,
        })
    }

    fn deploy(
        &mut self,
        state: &dyn StateView,
        tx: &TxContext,
        name: &str,
        version: &str,
        code: &str,
    ) -> Execution {
        if let Err(f) = registry::check_name(name) {
            return failed(f, 0, Vec::new());
        }
        if state.get(&registry::meta_key(name)).is_some()
            && registry::deployer(state, name).as_deref() != Some(tx.sender.as_str())
        {
            return failed(Failure::NotDeployer, 0, Vec::new());
        }
        let code_json = serde_json::to_string(code).expect("strings serialize");
        let code_json = crate::canonical::canonicalize(&code_json).expect("valid JSON");
        // Like 0.2, deploying compiles the code and runs its top level, which must return an
        // object of functions; unlike 0.2, that run is metered and its writes impossible.
        let exec = self.run(state, tx, name, &code_json, None, "[]");
        if !exec.receipt.is_success() {
            let f = exec.receipt.failure().cloned().expect("failed");
            let f = match f {
                Failure::Exception(m) => Failure::Compile(m),
                other => other,
            };
            return failed(f, exec.receipt.gas_used, exec.receipt.logs);
        }
        let meta = ContractMeta {
            name: name.to_string(),
            version: version.to_string(),
            deployed_at: tx.timestamp,
            deployed_by: tx.sender.clone(),
        };
        Execution {
            receipt: Receipt {
                outcome: Outcome::Success { result: None },
                gas_used: exec.receipt.gas_used,
                logs: Vec::new(),
            },
            writes: vec![
                Write {
                    key: registry::meta_key(name),
                    value: Some(meta.to_json()),
                },
                Write {
                    key: registry::code_key(name),
                    value: Some(code_json),
                },
            ],
        }
    }

    fn invoke(
        &mut self,
        state: &dyn StateView,
        tx: &TxContext,
        contract: &str,
        method: &str,
        args_json: &str,
    ) -> Execution {
        // As in 0.2, the code is all an invocation needs (metadata is for people and upgrades).
        let Some(code) = state.get(&registry::code_key(contract)) else {
            return failed(Failure::NotFound, 0, Vec::new());
        };
        self.run(state, tx, contract, &code.value, Some(method), args_json)
    }

    fn run(
        &mut self,
        state: &dyn StateView,
        tx: &TxContext,
        name: &str,
        code_json: &str,
        method: Option<&str>,
        args_json: &str,
    ) -> Execution {
        let limits = self.limits;
        let engine = self.engine.get_or_insert_with(|| Engine::new(&limits));
        // Cached by the stored JSON text: a hit needs no unescaping of the source.
        let factory = match self.cache.get(name, code_json) {
            Some(f) => f,
            None => {
                // Anything but a JSON string there (a `state:set` may have put it) is no contract.
                let Ok(code) = serde_json::from_str::<String>(code_json) else {
                    return failed(Failure::NotFound, 0, Vec::new());
                };
                match engine.compile(&code) {
                    Ok(f) => {
                        self.cache.insert(name, code_json, f.clone());
                        f
                    }
                    Err(f) => return failed(f, 0, Vec::new()),
                }
            }
        };
        let call = engine.call.clone();
        let (end, steps, poisoned) = {
            let _guard = StateGuard::new(&call, state);
            // A backstop: Boa panicked on code a contract controls (seen: "must be declarative
            // environment", from the `Function` constructor's scopes, now avoided); the same
            // code panics the same way on every node, so it is a failed call, not a crashed
            // validator. Where panics abort (the wasm release profile) this does not help.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.run(&factory, method, args_json, tx, limits.max_steps)
            }));
            run.unwrap_or((RunEnd::Failed(Failure::EngineFault), 0, true))
        };
        let done = std::mem::take(&mut *call.borrow_mut());
        // A Boa panic (none known since `Engine::compile` stopped using the `Function`
        // constructor) after a host function had stopped the call ends with that limit, as it
        // would without the panic; one with none recorded is an engine fault.
        let end = match (end, &done.failure) {
            (RunEnd::Failed(Failure::EngineFault), Some(recorded)) => {
                RunEnd::Failed(recorded.clone())
            }
            (end, _) => end,
        };
        if poisoned {
            // The run was abandoned mid-instruction: start over with a fresh context (and so
            // recompile), which no later call can tell apart from the old one.
            self.engine = None;
            self.cache.clear();
        }
        let gas_used = steps * GAS_STEP;
        match end {
            RunEnd::Failed(f) => failed(f, gas_used, done.logs),
            RunEnd::Value(result) => {
                if result
                    .as_ref()
                    .is_some_and(|r| r.len() > limits.max_result_bytes)
                {
                    return failed(Failure::Memory, gas_used, done.logs);
                }
                let result = match result {
                    Some(r) => match crate::canonical::canonicalize(&r) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            return failed(Failure::Exception(e.to_string()), gas_used, done.logs)
                        }
                    },
                    None => None,
                };
                Execution {
                    receipt: Receipt {
                        outcome: Outcome::Success { result },
                        gas_used,
                        logs: done.logs,
                    },
                    writes: done
                        .writes
                        .into_iter()
                        .map(|(key, value)| Write { key, value })
                        .collect(),
                }
            }
        }
    }
}

fn failed(failure: Failure, gas_used: u64, logs: Vec<String>) -> Execution {
    Execution {
        receipt: Receipt {
            outcome: Outcome::Failed(failure),
            gas_used,
            logs,
        },
        writes: Vec::new(),
    }
}
