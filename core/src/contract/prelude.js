// Runs once per engine context, before any contract code, with the host functions as arguments.
// It removes every source of nondeterminism and ambient authority, replaces the builtins that
// would call contract functions from native code (those calls escape the operation budget) with
// JavaScript versions, defines the per-call driver, then freezes everything reachable so no call
// can leave anything behind for the next one (or for another contract).
(function (host, mailbox) {
  "use strict";
  const g = globalThis;
  const O = Object;
  const { freeze, getPrototypeOf, getOwnPropertyNames, getOwnPropertySymbols, getOwnPropertyDescriptor, defineProperty, keys } = O;
  const isArray = Array.isArray;
  const stringify = JSON.stringify;
  const isFinite_ = Number.isFinite;
  const ObjectPrototype = O.prototype;
  const { hostGet, hostParse, hostSet, hostDel, hostLog, hostMissing, hostMemory, hostThrow, maxString, maxDepth, maxElements } = host;

  // No clock, no randomness, no dynamic code, no GC-observable or shared-memory objects.
  for (const name of ["Date", "eval", "Proxy", "Reflect", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer",
    "Atomics", "ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
    "Promise", "Function", "Temporal", "Intl"]) {
    delete g[name];
  }
  delete Math.random;
  const noCode = function () { throw new TypeError("dynamic code is disabled"); };
  for (const proto of [getPrototypeOf(function () {}), getPrototypeOf(function* () {}),
    getPrototypeOf(async function () {}), getPrototypeOf(async function* () {})]) {
    defineProperty(proto, "constructor", { value: noCode, writable: false, enumerable: false, configurable: false });
  }
  // call/apply/bind make native code call contract functions (outside the budget); regular
  // expressions can backtrack without bound inside the native matcher. `uncurry` keeps a way for
  // this prelude to call native methods on a given receiver.
  const FP = getPrototypeOf(function () {});
  const uncurry = FP.bind.bind(FP.call);
  delete FP.call; delete FP.apply; delete FP.bind;
  const unsupported = (what) => function () { throw new TypeError(what + " is not available to contracts"); };
  defineProperty(RegExp.prototype, "exec", { value: unsupported("RegExp matching"), writable: false, configurable: false });

  // The engine has no memory limit: refuse what would build huge strings or walk huge arrays
  // (an array's length can be set to 2^32 - 1 at no cost).
  function bounded(n) { if (!(n <= maxString)) hostMemory(); }
  function len(a) { const n = a.length; if (!(n <= maxElements)) hostMemory(); return n; }
  const SP = String.prototype;
  const repeat = uncurry(SP.repeat), padStart = uncurry(SP.padStart), padEnd = uncurry(SP.padEnd);
  SP.repeat = function (n) { const s = "" + this; bounded(s.length * n); return repeat(s, n); };
  SP.padStart = function (n, f) { bounded(+n); return padStart("" + this, n, f); };
  SP.padEnd = function (n, f) { bounded(+n); return padEnd("" + this, n, f); };
  // Every string a contract holds is within maxString (the `+` and template results are checked
  // by the host, see instrument.rs): what joins many strings is checked before it runs, what
  // grows one by a bounded factor (case mapping, normalisation, URI escaping) after.
  const concat = uncurry(SP.concat);
  SP.concat = function (...parts) {
    let n = ("" + this).length;
    const strings = [];
    for (let i = 0; i < parts.length; i++) { const p = "" + parts[i]; n += p.length; bounded(n); strings.push(p); }
    return concat("" + this, ...strings);
  };
  for (const [owner, name] of [[SP, "toUpperCase"], [SP, "toLowerCase"], [SP, "toLocaleUpperCase"], [SP, "toLocaleLowerCase"],
    [SP, "normalize"], [g, "encodeURI"], [g, "encodeURIComponent"], [g, "escape"]]) {
    if (typeof owner[name] !== "function") continue;
    const native = owner === SP ? uncurry(owner[name]) : owner[name];
    const wrapped = owner === SP
      ? function (...a) { const r = native(this, ...a); bounded(r.length); return r; }
      : function (s) { const r = native(s); bounded(r.length); return r; };
    defineProperty(owner, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  }
  delete String.raw;
  // String patterns only (RegExp matching is refused below); the substitution patterns $$, $&,
  // $` and $' would copy the subject into every match, so they are refused.
  const indexOf = uncurry(SP.indexOf);
  function occurrences(s, p, all) {
    if (!all) return indexOf(s, p) === -1 ? 0 : 1;
    if (p.length === 0) return s.length + 1;
    let n = 0;
    for (let i = indexOf(s, p, 0); i !== -1; i = indexOf(s, p, i + p.length)) n++;
    return n;
  }
  function replacing(native, all) {
    return function (p, r) {
      if (typeof r === "function") throw new TypeError("function replacers are not available to contracts");
      if (typeof p !== "string") throw new TypeError("only string patterns are available to contracts");
      const s = "" + this; r = "" + r;
      if (indexOf(r, "$$") !== -1 || indexOf(r, "$&") !== -1 || indexOf(r, "$`") !== -1 || indexOf(r, "$'") !== -1) {
        throw new TypeError("replacement patterns ($$, $&, $`, $') are not available to contracts");
      }
      bounded(s.length + occurrences(s, p, all) * r.length);
      return native(s, p, r);
    };
  }
  const AP = Array.prototype;
  const arrayFrom = Array.from;
  Array.from = function (items, mapFn) { if (mapFn !== undefined) throw new TypeError("Array.from: mapFn is not available to contracts"); return arrayFrom(items); };
  const nativeJoin = uncurry(AP.join);
  defineProperty(AP, "join", { value: function (sep) {
    const n = len(this);
    const s = sep === undefined ? "," : "" + sep;
    const parts = new Array(n);
    let total = n > 0 ? (n - 1) * s.length : 0;
    bounded(total);
    for (let i = 0; i < n; i++) {
      const v = this[i];
      parts[i] = v === undefined || v === null ? "" : "" + v;
      total += parts[i].length;
      bounded(total);
    }
    return nativeJoin(parts, s);
  }, writable: true, enumerable: false, configurable: true });
  for (const name of ["indexOf", "lastIndexOf", "includes", "toString", "toLocaleString", "reverse", "slice",
    "splice", "concat", "flat", "fill", "copyWithin", "at", "with", "toReversed", "toSpliced"]) {
    const f = AP[name];
    if (typeof f !== "function") continue;
    const native = uncurry(f);
    defineProperty(AP, name, { value: function (...a) { len(this); for (let i = 0; i < a.length; i++) if (isArray(a[i])) len(a[i]); return native(this, ...a); }, writable: true, enumerable: false, configurable: true });
  }
  for (const [name, fn] of [
    ["forEach", function (f) { const n = len(this); for (let i = 0; i < n; i++) if (i in this) f(this[i], i, this); }],
    ["map", function (f) { const n = len(this); const r = new Array(n); for (let i = 0; i < n; i++) if (i in this) r[i] = f(this[i], i, this); return r; }],
    ["filter", function (f) { const n = len(this); const r = []; for (let i = 0; i < n; i++) if (i in this && f(this[i], i, this)) r.push(this[i]); return r; }],
    ["some", function (f) { const n = len(this); for (let i = 0; i < n; i++) if (i in this && f(this[i], i, this)) return true; return false; }],
    ["every", function (f) { const n = len(this); for (let i = 0; i < n; i++) if (i in this && !f(this[i], i, this)) return false; return true; }],
    ["find", function (f) { const n = len(this); for (let i = 0; i < n; i++) if (f(this[i], i, this)) return this[i]; return undefined; }],
    ["findIndex", function (f) { const n = len(this); for (let i = 0; i < n; i++) if (f(this[i], i, this)) return i; return -1; }],
    ["reduce", function (f, ...init) {
      const n = len(this); let i = 0; let acc;
      if (init.length > 0) acc = init[0]; else { while (i < n && !(i in this)) i++; if (i >= n) throw new TypeError("reduce of empty array with no initial value"); acc = this[i++]; }
      for (; i < n; i++) if (i in this) acc = f(acc, this[i], i, this);
      return acc;
    }],
    ["sort", function (cmp) {
      // Stable merge sort in JavaScript: comparisons are metered like any other code.
      const n = len(this); const a = []; let undef = 0;
      for (let i = 0; i < n; i++) { if (i in this) { if (this[i] === undefined) undef++; else a.push(this[i]); } }
      const less = cmp === undefined ? (x, y) => ("" + x) > ("" + y) ? 1 : ("" + x) < ("" + y) ? -1 : 0 : cmp;
      let buf = new Array(a.length);
      for (let w = 1; w < a.length; w *= 2) {
        for (let lo = 0; lo < a.length; lo += 2 * w) {
          const mid = Math.min(lo + w, a.length), hi = Math.min(lo + 2 * w, a.length);
          let i = lo, j = mid, k = lo;
          while (i < mid && j < hi) buf[k++] = less(a[j], a[i]) < 0 ? a[j++] : a[i++];
          while (i < mid) buf[k++] = a[i++];
          while (j < hi) buf[k++] = a[j++];
        }
        for (let k = 0; k < a.length; k++) a[k] = buf[k];
      }
      let k = 0;
      for (; k < a.length; k++) this[k] = a[k];
      for (let u = 0; u < undef; u++) this[k++] = undefined;
      for (; k < n; k++) delete this[k];
      return this;
    }],
  ]) {
    defineProperty(AP, name, { value: fn, writable: true, enumerable: false, configurable: true });
  }
  for (const name of ["findLast", "findLastIndex", "reduceRight", "flatMap", "toSorted"]) delete AP[name];
  delete Map.prototype.forEach; delete Set.prototype.forEach;
  SP.replace = replacing(uncurry(SP.replace), false);
  SP.replaceAll = replacing(uncurry(SP.replaceAll), true);

  // JSON: what contracts write and return. Strings, finite numbers (-0 as 0), booleans, null,
  // arrays and plain objects of those. Refused (TypeError): undefined at the top, NaN and
  // ±Infinity, functions, symbols, BigInt, cycles, accessors, objects that are not plain, more than
  // `maxDepth` levels or `maxElements` elements. Inside objects an undefined property is left out
  // and inside arrays a hole or undefined is null, as JSON.stringify does.
  function toJson(v, what) {
    // Primitives, what contracts write most, without the walker's closures.
    switch (typeof v) {
      case "string": { const s = stringify(v); if (s.length > maxString) hostMemory(); return s; }
      case "number": if (isFinite_(v)) return stringify(v === 0 ? 0 : v); break;
      case "boolean": return v ? "true" : "false";
      case "object": if (v === null) return "null"; break;
    }
    const seen = [];
    let size = 0;
    function out(s) { size += s.length; if (size > maxString) hostMemory(); return s; }
    function walk(v, depth) {
      switch (typeof v) {
        case "string": return out(stringify(v));
        case "number":
          if (!isFinite_(v)) throw new TypeError(what + ": " + v + " is not JSON");
          return out(stringify(v === 0 ? 0 : v));
        case "boolean": return out(v ? "true" : "false");
        case "object": break;
        default: throw new TypeError(what + ": " + (typeof v) + " is not JSON");
      }
      if (v === null) return out("null");
      if (depth >= maxDepth) throw new TypeError(what + ": nested deeper than " + maxDepth);
      for (let i = 0; i < seen.length; i++) if (seen[i] === v) throw new TypeError(what + ": cyclic value");
      seen.push(v);
      let text;
      if (isArray(v)) {
        const n = len(v);
        const parts = [];
        for (let i = 0; i < n; i++) {
          const d = getOwnPropertyDescriptor(v, "" + i);
          if (d === undefined) { parts.push(out("null")); continue; }
          if (!("value" in d)) throw new TypeError(what + ": accessor properties are not JSON");
          parts.push(d.value === undefined ? out("null") : walk(d.value, depth + 1));
        }
        text = "[" + parts.join(",") + "]";
      } else {
        const proto = getPrototypeOf(v);
        if (proto !== ObjectPrototype && proto !== null) throw new TypeError(what + ": only plain objects are JSON");
        const ks = keys(v);
        if (ks.length > maxElements) hostMemory();
        const parts = [];
        for (let i = 0; i < ks.length; i++) {
          const d = getOwnPropertyDescriptor(v, ks[i]);
          if (!("value" in d)) throw new TypeError(what + ": accessor properties are not JSON");
          if (d.value === undefined) continue;
          parts.push(out(stringify(ks[i])) + ":" + walk(d.value, depth + 1));
        }
        text = "{" + parts.join(",") + "}";
      }
      seen.pop();
      return text;
    }
    if (v === undefined) throw new TypeError(what + ": undefined is not JSON");
    return walk(v, 0);
  }
  JSON.stringify = function (v, replacer) {
    if (replacer !== undefined && replacer !== null) throw new TypeError("JSON.stringify: replacers are not available to contracts");
    return v === undefined ? undefined : toJson(v, "JSON.stringify");
  };
  // Parsed by the host (json_value.rs): the engine's own JSON.parse compiles the text as a script.
  JSON.parse = function (text, reviver) {
    if (reviver !== undefined) throw new TypeError("JSON.parse: revivers are not available to contracts");
    return hostParse(`${text}`);
  };
  function key(k, op) { if (typeof k !== "string") throw new TypeError("ctx." + op + ": key must be a string"); return k; }

  // A thrown value as text, read without running contract code (own data properties only).
  function describe(e) {
    if (e !== null && typeof e === "object") {
      const d = getOwnPropertyDescriptor(e, "message");
      if (d !== undefined && "value" in d && typeof d.value === "string") return d.value;
      return "uncaught exception";
    }
    return typeof e === "symbol" ? "uncaught symbol" : "" + e;
  }

  // `ctx`'s methods: made once and frozen below (they hold nothing of a call; the host knows
  // which call is running), so a call builds no closures for them.
  const ctxMethods = {
    get(k) { return hostGet(key(k, "get")); },
    set(k, v) { key(k, "set"); hostSet(k, toJson(v, "ctx.set")); },
    del(k) { hostDel(key(k, "del")); },
    log(m) { hostLog(typeof m === "string" ? m : m === undefined ? "undefined" : toJson(m, "ctx.log")); },
  };

  // The per-call driver: `__miniledger_run()` is the only script the host runs. The host puts the
  // call's input in the mailbox (reachable from this closure only) and it is taken once; the
  // module is made afresh by its factory, so nothing a call does survives it.
  function run() {
    const c = mailbox.input;
    mailbox.input = null;
    if (c === null || c === undefined) throw new TypeError("no call in progress");
    let mod;
    // Called as plain functions, as 0.2 does: `this` is undefined at the top level and in methods.
    const factory = c.factory;
    try { mod = factory(); } catch (e) { hostThrow(describe(e)); }
    if (mod === null || typeof mod !== "object") hostThrow("Contract must return an object with methods");
    if (c.method === null) {
      const ks = keys(mod);
      for (let i = 0; i < ks.length; i++) {
        const d = getOwnPropertyDescriptor(mod, ks[i]);
        if (!("value" in d) || typeof d.value !== "function") hostThrow("Contract export \"" + ks[i] + "\" must be a function");
      }
      return null;
    }
    const d = getOwnPropertyDescriptor(mod, c.method);
    if (d === undefined || !("value" in d) || typeof d.value !== "function") hostMissing();
    // Not frozen (0.2's is not): it is the call's own, and its methods are frozen.
    const ctx = {
      get: ctxMethods.get,
      set: ctxMethods.set,
      del: ctxMethods.del,
      log: ctxMethods.log,
      sender: c.sender,
      blockHeight: c.blockHeight,
      timestamp: c.timestamp,
    };
    try {
      const args = hostParse(c.args);
      const method = d.value;
      const result = method(ctx, ...args);
      return result === undefined ? null : toJson(result, "result");
    } catch (e) {
      hostThrow(describe(e));
    }
  }
  defineProperty(g, "__miniledger_run", { value: run, writable: false, enumerable: false, configurable: false });

  // Freeze everything reachable from the global object and from the syntax-only intrinsics.
  function harden(root) {
    const todo = [root];
    const seen = new Set();
    while (todo.length > 0) {
      const o = todo.pop();
      if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
      seen.add(o);
      freeze(o);
      todo.push(getPrototypeOf(o));
      const names = getOwnPropertyNames(o).concat(getOwnPropertySymbols(o));
      for (let i = 0; i < names.length; i++) {
        const d = getOwnPropertyDescriptor(o, names[i]);
        if ("value" in d) todo.push(d.value); else { todo.push(d.get); todo.push(d.set); }
      }
    }
  }
  harden(g);
  harden(ctxMethods);
  for (const sample of [function* () {}, async function () {}, async function* () {}, (function* () {})(),
    [][Symbol.iterator](), new Map()[Symbol.iterator](), new Set()[Symbol.iterator](), ""[Symbol.iterator](),
    /a/g[Symbol.matchAll] ? /a/g : null, (function () { return arguments; })()]) {
    harden(sample);
  }
})
