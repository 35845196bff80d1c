//! One Boa context, hardened once by prelude.js and shared by every contract: the host functions
//! contracts reach through `ctx`, the per-call mailbox, and the compile step.

use super::json_value;
use super::meter::{self, Metered};
use super::receipt::Failure;
use super::Limits;
use crate::state::StateView;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{
    js_string, Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue,
    NativeFunction, Script, Source,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

const PRELUDE: &str = include_str!("prelude.js");
/// Longest exception message kept in a receipt (characters).
const MAX_MESSAGE: usize = 512;

/// What one call did, filled in by the host functions.
#[derive(Default)]
pub struct CallState {
    /// Buffered writes (`None`: delete), applied by the caller only on success.
    pub writes: BTreeMap<String, Option<String>>,
    pub written_bytes: usize,
    pub logs: Vec<String>,
    pub log_bytes: usize,
    /// Function entries charged (see `instrument`).
    pub calls: u64,
    /// Set by a host function that stops the call; wins over whatever the engine reports.
    pub failure: Option<Failure>,
    /// The state the call reads, present only while a call runs (see [`StateGuard`]).
    state: Option<*const (dyn StateView + 'static)>,
}

impl CallState {
    fn read(&self, key: &str) -> Option<String> {
        if let Some(pending) = self.writes.get(key) {
            return pending.clone();
        }
        let state = self.state.expect("host functions run only during a call");
        // SAFETY: `state` is set by `StateGuard::new` from a reference that outlives the guard,
        // and cleared when the guard drops; host functions run only while it is alive.
        unsafe { (*state).get(key).map(|e| e.value) }
    }
}

/// Lends the state to the host functions for the duration of one call.
pub struct StateGuard<'a> {
    call: &'a Rc<RefCell<CallState>>,
}

impl<'a> StateGuard<'a> {
    pub fn new(call: &'a Rc<RefCell<CallState>>, state: &'a dyn StateView) -> Self {
        // SAFETY: the lifetime is erased only for storage; the pointer is removed in `drop`,
        // before `state` can go away.
        let erased: *const (dyn StateView + 'a) = state;
        let erased: *const (dyn StateView + 'static) = unsafe { std::mem::transmute(erased) };
        let mut c = call.borrow_mut();
        *c = CallState::default();
        c.state = Some(erased);
        StateGuard { call }
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        self.call.borrow_mut().state = None;
    }
}

/// How a metered run ended, before it becomes a receipt.
pub enum RunEnd {
    /// The script's value: JSON text of the result, or null.
    Value(Option<String>),
    Failed(Failure),
}

pub struct Engine {
    context: Context,
    mailbox: JsObject,
    run: Script,
    pub call: Rc<RefCell<CallState>>,
}

fn limit_error(call: &Rc<RefCell<CallState>>, failure: Failure) -> JsError {
    let mut c = call.borrow_mut();
    c.failure.get_or_insert(failure);
    // Runtime-limit errors cannot be caught by contract code.
    JsNativeError::runtime_limit()
        .with_message("stopped by the host")
        .into()
}

fn string_arg(args: &[JsValue], i: usize) -> JsResult<String> {
    args.get(i)
        .and_then(JsValue::as_string)
        .ok_or_else(|| {
            JsNativeError::typ()
                .with_message("expected a string")
                .into()
        })
        .map(|s| s.to_std_string_escaped())
}

impl Engine {
    pub fn new(limits: &Limits) -> Engine {
        let mut context = Context::default();
        // Call depth is enforced by the gas charge at function entry (below), with an ordinary
        // error: Boa's own limits throw an uncatchable error which, unwinding through native
        // frames (a getter called by a property read), can panic Boa 0.21 ("must be
        // declarative environment"). Boa's limits stay as a backstop far above ours: the
        // prelude's uninstrumented helpers add at most one frame per contract frame.
        let rl = context.runtime_limits_mut();
        rl.set_recursion_limit(limits.max_depth * 4);
        rl.set_stack_size_limit(limits.max_stack_slots);
        rl.set_loop_iteration_limit(limits.max_loop_iterations);
        let call: Rc<RefCell<CallState>> = Rc::default();
        let host = Self::host_object(&mut context, &call, limits);
        let c = call.clone();
        let max_calls = limits.max_calls;
        let max_depth = limits.max_depth;
        // SAFETY: captures only `Rc<RefCell<CallState>>` and numbers.
        let gas = unsafe {
            NativeFunction::from_closure(move |_, _, context| {
                let calls = {
                    let mut s = c.borrow_mut();
                    s.calls += 1;
                    s.calls
                };
                // Frames on the engine's stack, the driver's and the prelude's included: the
                // same count at the same call on every node.
                if context.stack_trace().count() > max_depth {
                    c.borrow_mut().failure.get_or_insert(Failure::Stack);
                    return Err(JsNativeError::range()
                        .with_message("too much recursion")
                        .into());
                }
                if calls > max_calls {
                    // Recorded (it decides the outcome) and thrown as an ordinary error: an
                    // uncatchable one unwinding through native frames trips a Boa panic ("must be
                    // declarative environment"). A contract that catches it gets the same error
                    // at its next function entry; its current call's loops are bounded.
                    c.borrow_mut().failure.get_or_insert(Failure::OutOfGas);
                    return Err(JsNativeError::range().with_message("out of gas").into());
                }
                Ok(JsValue::undefined())
            })
        };
        context
            .register_global_builtin_callable(JsString::from(super::instrument::GAS_FN), 0, gas)
            .expect("the global object takes new properties");
        let c = call.clone();
        let max_string = limits.max_string;
        // SAFETY: captures only `Rc<RefCell<CallState>>` and a number.
        let strings = unsafe {
            NativeFunction::from_closure(move |_, args, _| {
                let value = args.first().cloned().unwrap_or_default();
                if value.as_string().is_some_and(|s| s.len() > max_string) {
                    // As for gas: recorded (it decides the outcome), thrown as an ordinary error.
                    c.borrow_mut().failure.get_or_insert(Failure::Memory);
                    return Err(JsNativeError::range()
                        .with_message("string too long")
                        .into());
                }
                Ok(value)
            })
        };
        context
            .register_global_builtin_callable(JsString::from(super::instrument::STR_FN), 1, strings)
            .expect("the global object takes new properties");
        let mailbox = JsObject::with_null_proto();
        let prelude = context.eval(Source::from_bytes(PRELUDE)).and_then(|f| {
            let f = f.as_object().expect("the prelude is a function");
            f.call(
                &JsValue::undefined(),
                &[host.into(), mailbox.clone().into()],
                &mut context,
            )
        });
        if let Err(e) = prelude {
            panic!("contract prelude failed: {e}");
        }
        let run = Script::parse(Source::from_bytes("__miniledger_run()"), None, &mut context)
            .expect("the driver script parses");
        Engine {
            context,
            mailbox,
            run,
            call,
        }
    }

    fn host_object(
        context: &mut Context,
        call: &Rc<RefCell<CallState>>,
        limits: &Limits,
    ) -> JsObject {
        let limits = *limits;
        let c = call.clone();
        // SAFETY (each `from_closure`): the closures capture only `Rc<RefCell<CallState>>` and
        // plain numbers, no garbage-collected values.
        let get = unsafe {
            NativeFunction::from_closure(move |_, args, context| {
                let key = string_arg(args, 0)?;
                let value = c.borrow().read(&key);
                value.map_or(Ok(JsValue::null()), |v| json_value::parse(&v, context))
            })
        };
        let parse = NativeFunction::from_fn_ptr(|_, args, context| {
            json_value::parse(&string_arg(args, 0)?, context)
        });
        let c = call.clone();
        let set = unsafe {
            NativeFunction::from_closure(move |_, args, _| {
                let key = string_arg(args, 0)?;
                let json = string_arg(args, 1)?;
                Self::write(&c, &limits, key, Some(json))?;
                Ok(JsValue::undefined())
            })
        };
        let c = call.clone();
        let del = unsafe {
            NativeFunction::from_closure(move |_, args, _| {
                let key = string_arg(args, 0)?;
                Self::write(&c, &limits, key, None)?;
                Ok(JsValue::undefined())
            })
        };
        let c = call.clone();
        let log = unsafe {
            NativeFunction::from_closure(move |_, args, _| {
                let line = string_arg(args, 0)?;
                let mut s = c.borrow_mut();
                if s.logs.len() >= limits.max_logs
                    || s.log_bytes + line.len() > limits.max_log_bytes
                {
                    drop(s);
                    return Err(limit_error(&c, Failure::LogLimit));
                }
                s.log_bytes += line.len();
                s.logs.push(line);
                Ok(JsValue::undefined())
            })
        };
        let c = call.clone();
        let missing = unsafe {
            NativeFunction::from_closure(move |_, _, _| {
                Err(limit_error(&c, Failure::MethodNotFound))
            })
        };
        let c = call.clone();
        let memory = unsafe {
            NativeFunction::from_closure(move |_, _, _| Err(limit_error(&c, Failure::Memory)))
        };
        let c = call.clone();
        let throw = unsafe {
            NativeFunction::from_closure(move |_, args, _| {
                let message = args
                    .first()
                    .and_then(JsValue::as_string)
                    .map(|s| s.to_std_string_escaped())
                    .unwrap_or_default();
                let message: String = message.chars().take(MAX_MESSAGE).collect();
                Err(limit_error(&c, Failure::Exception(message)))
            })
        };
        let attr = Attribute::READONLY;
        ObjectInitializer::new(context)
            .function(get, js_string!("hostGet"), 1)
            .function(parse, js_string!("hostParse"), 1)
            .function(set, js_string!("hostSet"), 2)
            .function(del, js_string!("hostDel"), 1)
            .function(log, js_string!("hostLog"), 1)
            .function(missing, js_string!("hostMissing"), 0)
            .function(memory, js_string!("hostMemory"), 0)
            .function(throw, js_string!("hostThrow"), 1)
            .property(js_string!("maxString"), limits.max_string as f64, attr)
            .property(js_string!("maxDepth"), limits.max_json_depth as f64, attr)
            .property(js_string!("maxElements"), limits.max_elements as f64, attr)
            .build()
    }

    fn write(
        call: &Rc<RefCell<CallState>>,
        limits: &Limits,
        key: String,
        json: Option<String>,
    ) -> JsResult<()> {
        if key.is_empty() || key.len() > limits.max_key_bytes || super::registry::is_reserved(&key)
        {
            return Err(limit_error(call, Failure::ReservedKey(key)));
        }
        let json = match json {
            Some(text) => Some(
                crate::canonical::canonicalize(&text)
                    .map_err(|e| JsNativeError::typ().with_message(e.to_string()))?,
            ),
            None => None,
        };
        let size = key.len() + json.as_ref().map_or(0, String::len);
        let mut c = call.borrow_mut();
        if json
            .as_ref()
            .is_some_and(|j| j.len() > limits.max_value_bytes)
            || c.written_bytes + size > limits.max_written_bytes
        {
            drop(c);
            return Err(limit_error(call, Failure::Memory));
        }
        if !c.writes.contains_key(&key) && c.writes.len() >= limits.max_writes {
            drop(c);
            return Err(limit_error(call, Failure::WriteLimit));
        }
        c.written_bytes += size;
        c.writes.insert(key, json);
        Ok(())
    }

    /// Compiles contract source to its factory: 0.2's `new Function(code)`, in strict mode, made
    /// by evaluating the function expression `(function () {\n<code>\n})`. Not through the
    /// `Function` constructor: Boa 0.21 compiles its bodies with broken scopes (a getter
    /// inside a method that writes a variable of the method panics: "must be declarative
    /// environment"). The expression cannot be escaped: `instrument` has already parsed the
    /// code as one function body, which cannot close the wrapper early, and the wrapper's
    /// closing brace is on its own line, after any line comment.
    pub fn compile(&mut self, code: &str) -> Result<JsObject, Failure> {
        let body = super::instrument::instrument(&format!("\"use strict\";\n{code}"))?;
        let wrapped = format!("(function () {{\n{body}\n}})");
        let made = self.context.eval(Source::from_bytes(wrapped.as_bytes()));
        match made {
            Ok(f) => f
                .as_object()
                .filter(JsObject::is_callable)
                .ok_or_else(|| Failure::Compile("not a function".into())),
            Err(e) => {
                let message = match e.try_native(&mut self.context) {
                    Ok(native) => native.message().to_string(),
                    Err(_) => e.to_string(),
                };
                Err(Failure::Compile(
                    message.chars().take(MAX_MESSAGE).collect(),
                ))
            }
        }
    }

    /// Runs the driver for one call (`method: None` checks a deployment), metered.
    /// Returns how it ended and the steps used; `Exhausted` leaves the context unusable.
    pub fn run(
        &mut self,
        factory: &JsObject,
        method: Option<&str>,
        args_json: &str,
        tx: &super::TxContext,
        max_steps: u64,
    ) -> (RunEnd, u64, bool) {
        let input = ObjectInitializer::new(&mut self.context)
            .property(js_string!("factory"), factory.clone(), Attribute::all())
            .property(
                js_string!("method"),
                method.map_or(JsValue::null(), |m| JsString::from(m).into()),
                Attribute::all(),
            )
            .property(
                js_string!("args"),
                JsString::from(args_json),
                Attribute::all(),
            )
            .property(
                js_string!("sender"),
                JsString::from(tx.sender.as_str()),
                Attribute::all(),
            )
            .property(
                js_string!("blockHeight"),
                tx.block_height as f64,
                Attribute::all(),
            )
            .property(
                js_string!("timestamp"),
                tx.timestamp as f64,
                Attribute::all(),
            )
            .build();
        self.mailbox
            .set(js_string!("input"), input, false, &mut self.context)
            .expect("the mailbox is a plain object");
        let budget = super::GAS_STEP as u32;
        let outcome = meter::run(
            self.run
                .evaluate_async_with_budget(&mut self.context, budget),
            max_steps,
        );
        let host_failure = self.call.borrow_mut().failure.take();
        match outcome {
            Metered::Exhausted { steps } => (RunEnd::Failed(Failure::OutOfGas), steps, true),
            Metered::Done { value, steps } => {
                let end = match (host_failure, value) {
                    (Some(f), _) => RunEnd::Failed(f),
                    (None, Ok(v)) => {
                        RunEnd::Value(v.as_string().map(|s| s.to_std_string_escaped()))
                    }
                    (None, Err(e)) => RunEnd::Failed(self.classify(e)),
                };
                // A runtime-limit error unwinding through native frames (a getter, a coercion)
                // can leave Boa's environment stack inconsistent (seen: the next call panicked
                // with "must be declarative environment"): after any stop other than a contract
                // exception, start over with a fresh context.
                let poisoned =
                    matches!(&end, RunEnd::Failed(f) if !matches!(f, Failure::Exception(_)));
                (end, steps, poisoned)
            }
        }
    }

    fn classify(&mut self, e: JsError) -> Failure {
        match e.try_native(&mut self.context) {
            Ok(native) => {
                let message = native.message();
                if message.contains("loop iteration limit") {
                    Failure::OutOfGas
                } else if message.contains("recursive calls") || message.contains("call stack") {
                    Failure::Stack
                } else {
                    Failure::Exception(message.chars().take(MAX_MESSAGE).collect())
                }
            }
            Err(_) => Failure::Exception("uncaught exception".into()),
        }
    }
}
