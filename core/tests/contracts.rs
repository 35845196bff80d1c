//! Contract runtime: the two example contracts, 0.2's payload and state shapes, and hostile
//! contracts (each must fail the same way, with the same gas, on every run and every node).
#![cfg(feature = "contracts")]

use miniledger_core::contract::{ContractRuntime, Failure, Limits, Outcome, Receipt, TxContext};
use miniledger_core::model::PayloadBody;
use miniledger_core::state::{MemoryState, StateDelta, StateEntry, StateView};
use serde_json::value::RawValue;

const TOKEN: &str = include_str!("../../examples/contracts/token.js");
const SUPPLY_CHAIN: &str = include_str!("../../examples/contracts/supply_chain.js");

/// A ledger of one: world state, a runtime, and a clock of heights.
struct Ledger {
    state: MemoryState,
    runtime: ContractRuntime,
    height: u64,
}

impl Ledger {
    fn new() -> Self {
        Ledger {
            state: MemoryState::default(),
            runtime: ContractRuntime::new(Limits::default()),
            height: 0,
        }
    }

    fn run(&mut self, sender: &str, payload: PayloadBody) -> Receipt {
        self.height += 1;
        let tx = TxContext {
            sender: sender.into(),
            block_height: self.height,
            timestamp: 1_700_000_000_000 + self.height,
        };
        let exec = self
            .runtime
            .execute(&self.state, &tx, &payload)
            .expect("a contract payload");
        if !exec.receipt.is_success() {
            assert!(exec.writes.is_empty(), "a failed call writes nothing");
        }
        let mut delta = StateDelta::new();
        for w in exec.writes {
            let version = self.state.get(&w.key).map_or(1, |e| e.version + 1);
            let entry = w.value.map(|value| StateEntry { value, version });
            delta.insert(w.key, entry);
        }
        self.state.apply(delta);
        exec.receipt
    }

    fn deploy(&mut self, sender: &str, name: &str, version: &str, code: &str) -> Receipt {
        let payload = PayloadBody::ContractDeploy {
            name: name.into(),
            version: version.into(),
            code: code.into(),
        };
        self.run(sender, payload)
    }

    fn invoke(&mut self, sender: &str, contract: &str, method: &str, args: &str) -> Receipt {
        let payload = PayloadBody::ContractInvoke {
            contract: contract.into(),
            method: method.into(),
            args: RawValue::from_string(args.into()).unwrap(),
        };
        self.run(sender, payload)
    }

    fn value(&self, key: &str) -> Option<String> {
        self.state.get(key).map(|e| e.value)
    }
}

fn ok(receipt: &Receipt) -> Option<String> {
    match &receipt.outcome {
        Outcome::Success { result } => result.clone(),
        Outcome::Failed(f) => panic!("expected success, got {f} (logs {:?})", receipt.logs),
    }
}

fn reason(receipt: &Receipt) -> String {
    match &receipt.outcome {
        Outcome::Failed(f) => f.reason(),
        Outcome::Success { result } => panic!("expected failure, got success {result:?}"),
    }
}

#[test]
fn token_mint_transfer_and_balances() {
    let mut l = Ledger::new();
    ok(&l.deploy("alice", "token", "1.0.0", TOKEN));
    assert_eq!(
        ok(&l.invoke("alice", "token", "mint", "[1000]")),
        Some("1000".into())
    );
    ok(&l.invoke("alice", "token", "transfer", r#"["bob", 300]"#));
    assert_eq!(l.value("balance:alice").as_deref(), Some("700"));
    assert_eq!(l.value("balance:bob").as_deref(), Some("300"));
    assert_eq!(
        ok(&l.invoke("carol", "token", "balance", r#"["bob"]"#)),
        Some("300".into())
    );
    let r = l.invoke("alice", "token", "transfer", r#"["bob", 701]"#);
    assert_eq!(reason(&r), "contract.exception: insufficient balance");
    let r = l.invoke("alice", "token", "transfer", r#"["bob", -5]"#);
    assert_eq!(reason(&r), "contract.exception: invalid amount");
    assert_eq!(l.value("balance:alice").as_deref(), Some("700"));
    // Logs come with the receipt.
    let r = l.invoke("bob", "token", "transfer", r#"["carol", 1]"#);
    assert_eq!(r.logs, vec!["transfer 1 from bob to carol".to_string()]);
    assert!(r.gas_used > 0);
}

#[test]
fn supply_chain_tracks_a_product_to_delivery() {
    let mut l = Ledger::new();
    ok(&l.deploy("maker", "supply", "1", SUPPLY_CHAIN));
    ok(&l.invoke(
        "maker",
        "supply",
        "createProduct",
        r#"["p1", "Widget", "Berlin"]"#,
    ));
    let r = l.invoke(
        "maker",
        "supply",
        "createProduct",
        r#"["p1", "Again", "Paris"]"#,
    );
    assert_eq!(reason(&r), "contract.exception: product already exists: p1");
    ok(&l.invoke("maker", "supply", "updateLocation", r#"["p1", "Hamburg"]"#));
    ok(&l.invoke(
        "maker",
        "supply",
        "transferOwnership",
        r#"["p1", "shipper"]"#,
    ));
    let r = l.invoke("maker", "supply", "updateLocation", r#"["p1", "Oslo"]"#);
    assert_eq!(reason(&r), "contract.exception: not the owner");
    ok(&l.invoke("shipper", "supply", "markDelivered", r#"["p1"]"#));
    let product = ok(&l.invoke("anyone", "supply", "getProduct", r#"["p1"]"#)).unwrap();
    let product: serde_json::Value = serde_json::from_str(&product).unwrap();
    assert_eq!(product["status"], "delivered");
    assert_eq!(product["owner"], "shipper");
    assert_eq!(product["history"].as_array().unwrap().len(), 4);
    assert_eq!(product["history"][1]["notes"], "");
    // What the contract returns is what state holds.
    let again = ok(&l.invoke("anyone", "supply", "getProduct", r#"["p1"]"#)).unwrap();
    assert_eq!(l.value("product:p1").unwrap(), again);
}

#[test]
fn deploy_writes_02_keys_and_only_the_deployer_upgrades() {
    let mut l = Ledger::new();
    ok(&l.deploy("alice", "token", "1.0.0", TOKEN));
    let meta = l.value("_contract:token").unwrap();
    assert_eq!(
        meta,
        r#"{"deployedAt":1700000000001,"deployedBy":"alice","name":"token","version":"1.0.0"}"#
    );
    let code: String = serde_json::from_str(&l.value("_contract_code:token").unwrap()).unwrap();
    assert_eq!(code, TOKEN);
    assert_eq!(
        reason(&l.deploy("mallory", "token", "6.6.6", "return {}")),
        "contract.not-deployer"
    );
    assert_eq!(l.value("_contract:token").unwrap(), meta);
    let v2 = "return { version(ctx) { return 2 } }";
    ok(&l.deploy("alice", "token", "2.0.0", v2));
    assert_eq!(
        ok(&l.invoke("x", "token", "version", "[]")),
        Some("2".into())
    );
    assert!(l
        .value("_contract:token")
        .unwrap()
        .contains(r#""version":"2.0.0""#));
}

#[test]
fn named_failures_for_bad_deployments_and_calls() {
    let mut l = Ledger::new();
    assert_eq!(
        reason(&l.invoke("a", "nope", "m", "[]")),
        "contract.not-found"
    );
    assert_eq!(
        reason(&l.deploy("a", "bad name!", "1", "return {}")),
        "contract.invalid-name"
    );
    let r = l.deploy("a", "broken", "1", "return { oops(ctx) { ");
    assert!(
        reason(&r).starts_with("contract.compile: "),
        "{}",
        reason(&r)
    );
    let r = l.deploy("a", "notfns", "1", "return { x: 1 }");
    assert_eq!(
        reason(&r),
        r#"contract.compile: Contract export "x" must be a function"#
    );
    let r = l.deploy("a", "notobj", "1", "return 42");
    assert_eq!(
        reason(&r),
        "contract.compile: Contract must return an object with methods"
    );
    assert!(l.value("_contract:broken").is_none());
    ok(&l.deploy("a", "c", "1", "return { m(ctx) { return 1 } }"));
    assert_eq!(
        reason(&l.invoke("a", "c", "other", "[]")),
        "contract.method-not-found"
    );
    assert_eq!(
        reason(&l.invoke("a", "c", "toString", "[]")),
        "contract.method-not-found"
    );
    assert_eq!(
        reason(&l.invoke("a", "c", "__proto__", "[]")),
        "contract.method-not-found"
    );
    // Code overwritten by something that is not a string is no contract.
    l.state.apply(StateDelta::from([(
        "_contract_code:c".to_string(),
        Some(StateEntry {
            value: "42".into(),
            version: 2,
        }),
    )]));
    assert_eq!(reason(&l.invoke("a", "c", "m", "[]")), "contract.not-found");
}

/// Runs `body` as method `m` three times: twice on one runtime, once on a fresh one (a node
/// with a cold cache). All three receipts must be equal, gas included.
/// Runs `f` on a thread with `bytes` of stack; a stack overflow there aborts the test process.
fn on_a_stack_of(bytes: usize, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the thread finished");
}

fn hostile(body: &str) -> Receipt {
    let code = format!("return {{ m(ctx) {{ {body} }} }}");
    let mut warm = Ledger::new();
    ok(&warm.deploy("eve", "h", "1", &code));
    let first = warm.invoke("eve", "h", "m", "[]");
    let mut second = warm.invoke("eve", "h", "m", "[]");
    second.logs = first.logs.clone();
    let mut cold = Ledger::new();
    ok(&cold.deploy("eve", "h", "1", &code));
    let third = cold.invoke("eve", "h", "m", "[]");
    assert_eq!(first.outcome, second.outcome, "{body}");
    assert_eq!(first.gas_used, second.gas_used, "{body}");
    assert_eq!(first.outcome, third.outcome, "{body}");
    assert_eq!(first.gas_used, third.gas_used, "{body}");
    first
}

#[test]
fn sandbox_escapes_of_02_find_nothing() {
    for body in [
        // `this` is undefined, as in 0.2; the same escape through objects a contract does have:
        "return this.constructor.constructor('return process')()",
        "return ctx.constructor.constructor('return process')()",
        "return ({}).constructor.constructor('return process')()",
        "return (function () {}).constructor('return this')()",
        "return ctx.get.constructor('return globalThis')()",
        "return Object.getPrototypeOf(async function () {}).constructor('return 1')()",
        "return Object.getPrototypeOf(function* () {}).constructor('yield 1')",
        "return eval('1 + 1')",
        "return Function('return 1')()",
        "return typeof require + typeof process + typeof fetch",
        "return typeof this + typeof this",
    ] {
        let r = hostile(body);
        match &r.outcome {
            Outcome::Failed(Failure::Exception(m)) => assert!(
                m.contains("dynamic code is disabled")
                    || m.contains("not defined")
                    || m.contains("'null' or 'undefined' to object")
                    || m.contains("not a function")
                    || m.contains("not a constructor"),
                "{body}: {m}"
            ),
            Outcome::Success { result } => assert!(
                result.as_deref() == Some(r#""undefinedundefinedundefined""#)
                    || result.as_deref() == Some(r#""undefinedundefined""#),
                "{body}: {result:?}"
            ),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn no_clock_and_no_randomness() {
    for body in [
        "return Date.now()",
        "return new Date().getTime()",
        "return Math.random()",
    ] {
        let r = hostile(body);
        assert!(
            reason(&r).starts_with("contract.exception: "),
            "{body}: {}",
            reason(&r)
        );
    }
    assert_eq!(
        ok(&hostile("return typeof Date + typeof Math.random")),
        Some(r#""undefinedundefined""#.into())
    );
    // What a contract may use instead: the block's facts, equal on every node.
    assert_eq!(
        ok(&hostile(
            "return [ctx.sender, typeof ctx.blockHeight, typeof ctx.timestamp]"
        )),
        Some(r#"["eve","number","number"]"#.into())
    );
}

#[test]
fn prototype_pollution_does_not_cross_contracts_or_calls() {
    let mut l = Ledger::new();
    let polluter = r#"return {
        objects(ctx) { Object.prototype.polluted = 1 },
        arrays(ctx) { Array.prototype.push = function () { return 666 } },
        globals(ctx) { globalThis.leak = 1 },
        json(ctx) { JSON.parse = function () { return 666 } },
        methods(ctx) { ctx.get.polluted = 1 },
        ctxs(ctx) { ctx.get = function () { return 666 }; return ctx.get() },
    }"#;
    ok(&l.deploy("eve", "polluter", "1", polluter));
    // A call's `ctx` is its own (not frozen, as in 0.2); the methods on it are shared and frozen.
    assert_eq!(
        ok(&l.invoke("eve", "polluter", "ctxs", "[]")),
        Some("666".into())
    );
    for m in ["objects", "arrays", "globals", "json", "methods"] {
        let r = l.invoke("eve", "polluter", m, "[]");
        assert!(
            reason(&r).starts_with("contract.exception: "),
            "{m}: {}",
            reason(&r)
        );
    }
    let victim = r#"let calls = 0; return {
        check(ctx) {
            const a = []; a.push(1);
            calls += 1;
            return [({}).polluted === undefined && ctx.get.polluted === undefined, a.length, typeof leak,
                JSON.parse("[7]")[0], calls, ctx.get("k")];
        }
    }"#;
    ok(&l.deploy("bob", "victim", "1", victim));
    // `calls` restarts with every call: module state does not survive a call.
    for _ in 0..2 {
        let r = l.invoke("bob", "victim", "check", "[]");
        assert_eq!(ok(&r), Some(r#"[true,1,"undefined",7,1,null]"#.into()));
    }
}

#[test]
fn endless_loops_run_out_of_gas_at_the_same_point() {
    let max = Limits::default().max_steps * miniledger_core::contract::GAS_STEP;
    for body in [
        "while (true) {}",
        "for (;;) { try { while (true) {} } catch (e) {} }",
        "[1].forEach(function () { while (true) {} })",
        "[3, 1, 2].sort(function (a, b) { while (true) {} })",
        "let i = 0; while (true) { i++ }",
    ] {
        // Stopped by the step count or, first, by the single-loop iteration limit.
        let r = hostile(body);
        assert_eq!(reason(&r), "contract.out-of-gas", "{body}");
        assert!(
            r.gas_used > 0 && r.gas_used <= max,
            "{body}: {}",
            r.gas_used
        );
    }
    // A getter run by native code is outside the step count but its loop is still bounded.
    let r = hostile("return ({ get x() { while (true) {} } }).x");
    assert_eq!(reason(&r), "contract.out-of-gas");
}

#[test]
fn functions_run_by_native_code_are_charged_per_call() {
    // Branching recursion through getters and coercions: 2^40 calls without the entry charge.
    for body in [
        "let d = 0; const o = { get x() { if (d > 40) return 1; d++; const r = this.x + this.x; d--; return r } }; return o.x",
        "let d = 0; const o = { valueOf() { if (d > 40) return 1; d++; const r = (o + 0) + (o + 0); d--; return r } }; return o + 0",
        "let d = 0; const o = { toString() { if (d > 40) return 'x'; d++; const r = `${o}` + `${o}`; d--; return r.length } }; return `${o}`",
        // Endless recursion through coercions.
        "const o = { toString() { return `${o}` } }; return `${o}`",
        "const o = { valueOf() { return o + 1 } }; return o + 1",
    ] {
        // Getter recursion runs out of gas. Boa does not re-enter the coercion of an object
        // already being coerced (it yields 0 or "" instead, as V8 and SpiderMonkey do), so the
        // coercion cases end quickly with a value. Either way no engine fault (Boa 0.21 used to
        // panic on all of these: see `Engine::compile`), the same on every run.
        let r = hostile(body);
        match &r.outcome {
            Outcome::Success { .. } => assert!(!body.contains("get x"), "{body}"),
            Outcome::Failed(f) => {
                assert!(matches!(f, Failure::OutOfGas | Failure::Stack), "{body}: {f}")
            }
        }
    }
    // Getters and coercions that write the method's variables (Boa 0.21's `Function`
    // constructor compiled these with broken scopes: a panic on the first write).
    for (body, result) in [
        ("let d = 0; const o = { get x() { d++; let r = 1; d--; return r } }; return o.x", "1"),
        ("let d = 0; const o = { get x() { if (d > 3) return 1; d++; const r = this.x + this.x; d--; return r } }; return o.x", "16"),
        ("let n = 0; const o = { toString() { n++; return 'o' } }; return `${o}${o}` + n", "\"oo2\""),
    ] {
        assert_eq!(hostile(body).outcome, Outcome::Success { result: Some(result.into()) }, "{body}");
    }
    // The contract's own errors out of getters and coercions, caught: execution goes on.
    for (body, result) in [
        ("const o = { get x() { throw new Error('a') } }; let r = 0; try { o.x } catch (e) { r = 1 } const z = r + 1; return z", "2"),
        ("const o = { toString() { throw new Error('t') } }; try { `${o}` } catch (e) {} const q = 5; return q", "5"),
        ("const o = { valueOf() { throw 1 } }; let n = 0; for (let i = 0; i < 3; i++) { try { o + 1 } catch (e) { n += e } } return n", "3"),
    ] {
        assert_eq!(hostile(body).outcome, Outcome::Success { result: Some(result.into()) }, "{body}");
    }
    // Code cannot close the function it is compiled into, and a trailing comment is harmless.
    let mut l = Ledger::new();
    let r = l.deploy(
        "eve",
        "w",
        "1",
        "return { m() {} }\n}); globalThis.x = 1; (function () {",
    );
    assert!(reason(&r).starts_with("contract.compile: "), "{r:?}");
    ok(&l.deploy("eve", "c", "1", "return { m() { return 7 } } // trailing"));
    assert_eq!(ok(&l.invoke("eve", "c", "m", "[]")).as_deref(), Some("7"));
    // Code may not name the charge itself (to shadow it).
    let mut l = Ledger::new();
    let r = l.deploy(
        "eve",
        "s",
        "1",
        "return { m(ctx) { const __miniledger_gas = () => 0; while (true) {} } }",
    );
    assert_eq!(reason(&r), "contract.compile: __miniledger_gas is reserved");
}

#[test]
fn recursion_is_a_stack_failure_and_cannot_be_caught() {
    for body in [
        "function f() { return f() } return f()",
        "function f() { return f() } try { return f() } catch (e) { return 'caught' }",
        "const o = { get x() { return this.x } }; return o.x",
        // Recursion through getters, setters and coercions, the error caught at every level:
        // stopped by the depth check before Boa's own limit (whose uncatchable error, unwinding
        // through a getter's native frame, panicked Boa 0.21), so no engine fault.
        "const o = { get x() { try { return this.x } catch (e) { return this.x } } }; return o.x",
        "const o = { set x(v) { this.x = v } }; o.x = 1",
    ] {
        let why = reason(&hostile(body));
        assert!(
            why == "contract.stack" || why == "contract.out-of-gas",
            "{body}: {why}"
        );
        assert_ne!(why, "contract.engine-fault", "{body}");
    }
}

#[test]
fn memory_bombs_are_refused() {
    for body in [
        "return 'x'.repeat(1 << 30).length",
        "return ''.padStart(1e9, 'x').length",
        "const a = []; a.length = 2 ** 32 - 1; return a.join('x').length",
        "const a = []; a.length = 2 ** 32 - 1; return a.indexOf(1)",
        "return new Array(1e9).fill(0).length",
        "const a = []; a.length = 1e9; ctx.set('k', a)",
        "return 'x'.repeat(1 << 20) + 'x'.repeat(1 << 20)",
        // Doubling a string: with `+`, `+=`, templates, concat, join, replaceAll.
        "let s = 'x'; while (true) s = s + s",
        "let s = 'x'; for (;;) s += s",
        "let s = 'x'; for (;;) s = `${s}${s}`",
        "let s = 'x'; for (;;) s = s.concat(s, s)",
        "let s = 'x'; for (;;) s = [s, s, s].join('')",
        "let s = 'xx'; for (;;) s = s.replaceAll('', s)",
        "let s = 'x'.repeat(2000); return s.replaceAll('x', s).length",
        "let s = 'x'; for (;;) s = String(['a', s, s])",
        "let s = 'ß'.repeat(1 << 20); return s.toUpperCase().length",
    ] {
        let r = hostile(body);
        let why = reason(&r);
        assert!(
            why == "contract.memory" || why == "contract.out-of-gas",
            "{body}: {why}"
        );
    }
    // The string doublings are stopped by the string limit, not by the budget (which a
    // doubling never reaches before memory runs out), even when the error is caught.
    for body in [
        "let s = 'x'; while (true) s = s + s",
        "let s = 'x'; for (;;) s = `${s}${s}`",
        "let s = 'x'; for (;;) { try { s = s + s } catch (e) {} }",
    ] {
        assert_eq!(reason(&hostile(body)), "contract.memory", "{body}");
    }
    // Replacement patterns would copy the subject into every match.
    assert_eq!(
        reason(&hostile("return 'ab'.replace('a', '$`$`')")),
        "contract.exception: replacement patterns ($$, $&, $`, $') are not available to contracts"
    );
    // Built within the caps, but too large to return or to store.
    assert_eq!(
        reason(&hostile("return 'x'.repeat(1 << 19)")),
        "contract.memory"
    );
    assert_eq!(
        reason(&hostile("ctx.set('k', 'x'.repeat(100000))")),
        "contract.memory"
    );
    // Growing an array until the budget ends is bounded by the budget.
    assert_eq!(
        reason(&hostile("const a = []; while (true) a.push(a.length)")),
        "contract.out-of-gas"
    );
}

#[test]
fn values_are_json_or_refused() {
    assert_eq!(
        ok(&hostile(
            "return { b: 1, a: [1, undefined, , 'x'], u: undefined, z: -0 }"
        )),
        Some(r#"{"a":[1,null,null,"x"],"b":1,"z":0}"#.into())
    );
    assert_eq!(ok(&hostile("return undefined")), None);
    for (body, why) in [
        ("return NaN", "result: NaN is not JSON"),
        ("return Infinity", "result: Infinity is not JSON"),
        ("return function () {}", "result: function is not JSON"),
        ("return 10n", "result: bigint is not JSON"),
        ("return Symbol('s')", "result: symbol is not JSON"),
        ("const o = {}; o.o = o; return o", "result: cyclic value"),
        ("return new Map()", "result: only plain objects are JSON"),
        (
            "return { get x() { return 1 } }",
            "result: accessor properties are not JSON",
        ),
        ("ctx.set('k', undefined)", "ctx.set: undefined is not JSON"),
        ("ctx.set('k', { n: NaN })", "ctx.set: NaN is not JSON"),
        ("ctx.set(1, 2)", "ctx.set: key must be a string"),
        (
            "let v = []; for (let i = 0; i < 100; i++) v = [v]; return v",
            "result: nested deeper than 64",
        ),
    ] {
        assert_eq!(
            reason(&hostile(body)),
            format!("contract.exception: {why}"),
            "{body}"
        );
    }
}

#[test]
fn failed_calls_leave_state_untouched_and_writes_are_bounded() {
    let mut l = Ledger::new();
    let code = r#"return {
        partial(ctx) { ctx.set("a", 1); ctx.del("b"); throw new Error("boom") },
        many(ctx) { for (let i = 0; i < 300; i++) ctx.set("k" + i, i) },
        reserved(ctx) { ctx.set("_contract_code:other", "return {}") },
        seeOwn(ctx) { ctx.set("a", 5); return ctx.get("a") },
        thrown(ctx) { throw { message: "plain object" } },
        thrownString(ctx) { throw "just a string" },
    }"#;
    ok(&l.deploy("a", "w", "1", code));
    l.state.apply(StateDelta::from([(
        "b".to_string(),
        Some(StateEntry {
            value: "2".into(),
            version: 1,
        }),
    )]));
    assert_eq!(
        reason(&l.invoke("a", "w", "partial", "[]")),
        "contract.exception: boom"
    );
    assert_eq!(l.value("a"), None);
    assert_eq!(l.value("b").as_deref(), Some("2"));
    assert_eq!(
        reason(&l.invoke("a", "w", "many", "[]")),
        "contract.write-limit"
    );
    assert_eq!(l.value("k0"), None);
    assert_eq!(
        reason(&l.invoke("a", "w", "reserved", "[]")),
        "contract.reserved-key: _contract_code:other"
    );
    assert_eq!(ok(&l.invoke("a", "w", "seeOwn", "[]")), Some("5".into()));
    assert_eq!(
        reason(&l.invoke("a", "w", "thrown", "[]")),
        "contract.exception: plain object"
    );
    assert_eq!(
        reason(&l.invoke("a", "w", "thrownString", "[]")),
        "contract.exception: just a string"
    );
}

#[test]
fn regular_expression_matching_is_refused() {
    let r = hostile("return /(a+)+$/.test('a'.repeat(40) + 'b')");
    assert_eq!(
        reason(&r),
        "contract.exception: RegExp matching is not available to contracts"
    );
}

#[test]
fn the_module_cache_is_bounded() {
    let limits = Limits {
        cached_modules: 3,
        ..Limits::default()
    };
    let mut runtime = ContractRuntime::new(limits);
    let mut state = MemoryState::default();
    let tx = TxContext {
        sender: "a".into(),
        block_height: 1,
        timestamp: 1,
    };
    for i in 0..10 {
        let payload = PayloadBody::ContractDeploy {
            name: format!("c{i}"),
            version: "1".into(),
            code: "return { m(ctx) { return 1 } }".into(),
        };
        let exec = runtime.execute(&state, &tx, &payload).unwrap();
        let delta = exec
            .writes
            .into_iter()
            .map(|w| (w.key, w.value.map(|value| StateEntry { value, version: 1 })))
            .collect();
        state.apply(delta);
        assert!(runtime.cached_modules() <= 3);
    }
    let payload = PayloadBody::ContractInvoke {
        contract: "c0".into(),
        method: "m".into(),
        args: RawValue::from_string("[]".into()).unwrap(),
    };
    let exec = runtime.execute(&state, &tx, &payload).unwrap();
    assert_eq!(
        exec.receipt.outcome,
        Outcome::Success {
            result: Some("1".into())
        }
    );
    assert!(runtime
        .execute(&state, &tx, &PayloadBody::StateDelete { key: "x".into() })
        .is_none());
}

#[test]
fn a_block_with_contracts_matches_state_execution_and_keeps_receipts() {
    use miniledger_core::contract::block::execute_block;
    use miniledger_core::model::{Block, Transaction};
    use miniledger_core::Keypair;
    let alice = Keypair::from_seed([1; 32]);
    let proposer = Keypair::from_seed([9; 32]);
    let me = alice.public_hex().to_string();
    let bodies = vec![
        PayloadBody::ContractDeploy {
            name: "token".into(),
            version: "1".into(),
            code: TOKEN.into(),
        },
        PayloadBody::ContractInvoke {
            contract: "token".into(),
            method: "mint".into(),
            args: RawValue::from_string("[50]".into()).unwrap(),
        },
        PayloadBody::ContractInvoke {
            contract: "token".into(),
            method: "transfer".into(),
            args: RawValue::from_string(r#"["bob", 80]"#.into()).unwrap(),
        },
        PayloadBody::state_set("note", r#"{"b":1,"a":2}"#).unwrap(),
        PayloadBody::ContractInvoke {
            contract: "token".into(),
            method: "transfer".into(),
            args: RawValue::from_string(r#"["bob", 20]"#.into()).unwrap(),
        },
    ];
    let txs: Vec<Transaction> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            Transaction::new_signed(&alice, i as u64, 1_700_000_000_000 + i as u64, body)
        })
        .collect();
    let block = Block::build(
        &Block::genesis().header(),
        1_700_000_000_010,
        txs,
        String::new(),
        &proposer,
    );
    let mut runtime = ContractRuntime::new(Limits::default());
    let state = MemoryState::default();
    let (delta, receipts) = execute_block(&block, &state, &mut runtime);
    let indexes: Vec<usize> = receipts.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, vec![0, 1, 2, 4]);
    assert_eq!(
        reason(&receipts[2].1),
        "contract.exception: insufficient balance"
    );
    let entry = |k: &str| {
        delta
            .get(k)
            .cloned()
            .flatten()
            .map(|e| (e.value, e.version))
    };
    assert_eq!(entry(&format!("balance:{me}")), Some(("30".into(), 2)));
    assert_eq!(entry("balance:bob"), Some(("20".into(), 1)));
    assert_eq!(entry("note"), Some((r#"{"a":2,"b":1}"#.into(), 1)));
    assert!(entry("_contract:token").unwrap().0.contains(&me));
    // Same block, fresh runtime: same delta and receipts (what every validator recomputes).
    let (again, receipts_again) =
        execute_block(&block, &state, &mut ContractRuntime::new(Limits::default()));
    assert_eq!(again, delta);
    assert_eq!(receipts_again, receipts);
}

#[test]
fn string_builtins_still_work_within_the_limits() {
    for (body, result) in [
        ("return 'abc'.toUpperCase() + 'X'.toLowerCase()", "\"ABCx\""),
        (
            "return 'a-b-a'.replaceAll('a', 'z') + 'q'.replace('q', 'r')",
            "\"z-b-zr\"",
        ),
        ("return 'a'.concat('b', 1, null)", "\"ab1null\""),
        (
            "return [1, 'b', null, undefined, [2, 3]].join(';')",
            "\"1;b;;;2,3\"",
        ),
        ("return String([1, [2, 3]]) + `${[4]}`", "\"1,2,34\""),
        (
            "return typeof escape + ' ' + typeof String.raw + ' ' + encodeURIComponent('a b')",
            "\"undefined undefined a%20b\"",
        ),
    ] {
        let r = hostile(body);
        assert_eq!(
            r.outcome,
            Outcome::Success {
                result: Some(result.into())
            },
            "{body}"
        );
    }
}

/// JSON a contract parses, as deep as JSON may nest, on a thread with Rust's default stack
/// (2 MiB): Boa's own `JSON.parse` recursed through its whole expression grammar per level and
/// overflowed it (an abort, on every validator at the same block); the host's parser does not.
#[test]
fn deep_json_parses_within_a_default_thread_stack() {
    let run = || {
        let deep_json = format!("{}1{}", "[".repeat(127), "]".repeat(127));
        let body = format!("return JSON.parse({deep_json:?}).length;");
        assert_eq!(ok(&hostile(&body)).as_deref(), Some("1"));
        let too_deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
        let body = format!("return JSON.parse({too_deep:?});");
        assert!(reason(&hostile(&body)).contains("recursion limit"));
    };
    on_a_stack_of(2 << 20, run);
}

/// The deepest source of each shape the nesting bounds admit (`instrument::MAX_NESTING_WEIGHT`,
/// `MAX_SOURCE_UNITS`) deploys, or fails cleanly, on a thread of `contract::STACK_BYTES`, and one
/// step past a bound is refused before parsing. Before the bounds a 100-term `+` chain overflowed
/// the node loop's 2 MiB stack: an abort of every validator at the same block.
#[test]
fn the_deepest_source_the_bounds_admit_fits_the_contract_stack() {
    use miniledger_core::contract::instrument::{MAX_NESTING_WEIGHT, MAX_SOURCE_UNITS};
    let w = MAX_NESTING_WEIGHT - 20; // the method's own brackets and `+`s
    let u = MAX_SOURCE_UNITS - 40;
    let shapes: Vec<(&str, String)> = vec![
        (
            "parentheses",
            format!("return {}1{};", "(".repeat(w), ")".repeat(w)),
        ),
        (
            "arrays",
            format!("return {}1{};", "[".repeat(w), "]".repeat(w)),
        ),
        (
            "objects",
            format!("return {}1{};", "{a:".repeat(w), "}".repeat(w)),
        ),
        ("blocks", format!("{}{}", "{".repeat(w), "}".repeat(w))),
        (
            "functions",
            format!("{}{}", "function f(){".repeat(w / 2), "}".repeat(w / 2)),
        ),
        (
            "templates",
            format!("return {}1{};", "`${".repeat(w / 5), "}`".repeat(w / 5)),
        ),
        ("sums", format!("return 1{};", "+1".repeat(w / 3))),
        ("arrows", format!("return {}1;", "x=>".repeat(w / 2))),
        ("ifs", format!("{}return 1;", "if(1)".repeat(w))),
        (
            "else ifs",
            format!("if(0){{}}{}", "else if(0){}".repeat(w / 3)),
        ),
        ("calls", format!("return f{};", "(1)".repeat(w))),
        ("negations", format!("return {}1;", "!".repeat(u))),
        ("minuses", format!("return {}1;", "- ".repeat(u))),
        ("typeofs", format!("return {}1;", "typeof ".repeat(u))),
        ("news", format!("return {}Object;", "new ".repeat(u))),
        (
            "assignments",
            format!("let a; return {}1;", "a=".repeat(u / 2)),
        ),
        ("conditionals", format!("return {}1;", "1?1:".repeat(u / 4))),
        ("powers", format!("return {}1;", "2**".repeat(u / 3))),
        ("labels", format!("{}return 1;", "l:".repeat(u / 2))),
        ("members", format!("return a{};", ".b".repeat(u / 2))),
    ];
    let run = move || {
        let mut ledger = Ledger::new();
        for (i, (shape, body)) in shapes.iter().enumerate() {
            let source = format!("return {{ m(ctx) {{ {body} }} }}");
            let started = std::time::Instant::now();
            let receipt = ledger.deploy("eve", &format!("s{i}"), "1", &source);
            let refused = !receipt.is_success() && reason(&receipt).contains("source too");
            assert!(
                !refused,
                "{shape}: within the bounds, refused: {}",
                reason(&receipt)
            );
            eprintln!("{shape}: {:?}", started.elapsed());
        }
        let over = format!(
            "return {}1{};",
            "(".repeat(MAX_NESTING_WEIGHT),
            ")".repeat(MAX_NESTING_WEIGHT)
        );
        let receipt = ledger.deploy(
            "eve",
            "over",
            "1",
            &format!("return {{ m(ctx) {{ {over} }} }}"),
        );
        assert!(
            reason(&receipt).contains("source too complex"),
            "{}",
            reason(&receipt)
        );
        let long = format!(
            "return {{ m(ctx) {{ return {}1; }} }}",
            "!".repeat(MAX_SOURCE_UNITS)
        );
        let receipt = ledger.deploy("eve", "long", "1", &long);
        assert!(
            reason(&receipt).contains("source too long"),
            "{}",
            reason(&receipt)
        );
        // Brackets in strings and comments count too: nothing hides nesting from the bound.
        let hidden = format!(
            "return {{ m(ctx) {{ /* {} */ return 1; }} }}",
            "(".repeat(MAX_NESTING_WEIGHT)
        );
        assert!(
            reason(&ledger.deploy("eve", "hidden", "1", &hidden)).contains("source too complex")
        );
    };
    on_a_stack_of(miniledger_core::contract::STACK_BYTES, run);
}
