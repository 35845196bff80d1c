// miniledger-web: a MiniLedger light node in the browser. The node (Rust core compiled to wasm)
// runs in a Web Worker; this class is its page-side handle: it mirrors the node's state from
// the worker's snapshots (so `height`, `tip` and `peers` are synchronous) and re-dispatches its
// events ('block', 'peer', 'sync', 'tx', 'error').

/** Turns the `submit` argument into a payload object. */
function toPayload(tx) {
  if (tx && typeof tx === 'object' && typeof tx.kind === 'string') return tx;
  if (tx && typeof tx === 'object' && typeof tx.key === 'string') {
    return tx.value === undefined || tx.value === null
      ? { kind: 'state:delete', key: tx.key }
      : { kind: 'state:set', key: tx.key, value: tx.value };
  }
  throw new TypeError('submit: expected {key, value} or a payload with a "kind"');
}

/** A worker started by `LightNode.preload`, taken by the next `connect`. */
let spare = null;

/** Makes the worker for a new node when no `workerUrl` is given (node.js replaces it). */
let makeWorker = () =>
  // The literal `new Worker(new URL(...), {type: 'module'})` form is what bundlers (Vite,
  // webpack 5) recognise to bundle the worker and, through it, the wasm.
  new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });

/** For node.js: runs the host somewhere other than a Web Worker. Not part of the public API. */
export function useWorkerFactory(factory) {
  makeWorker = factory;
  compileHere = async () => undefined;
}

/**
 * In a browser, the page fetches and compiles the wasm (streaming, off the main thread) while
 * the worker's scripts still load, and hands the worker the compiled module: on a first visit
 * the two no longer wait for each other. Undefined (the worker fetches it itself) where that
 * fails.
 */
let compileHere = async (wasmUrl) => {
  if (typeof WebAssembly?.compileStreaming !== 'function' || typeof fetch !== 'function') return undefined;
  try {
    return await WebAssembly.compileStreaming(fetch(wasmUrl ?? new URL('./wasm/miniledger_web_bg.wasm', import.meta.url)));
  } catch {
    return undefined;
  }
};

export class LightNode extends EventTarget {
  #worker;
  #calls = new Map();
  #nextId = 1;
  #snapshot = null;
  /** hash → resolve function of a submitted transaction's `committed` promise */
  #commits = new Map();
  #closed = false;
  /** Resolves once the worker has compiled the wasm. */
  #ready;

  /**
   * Starts a light node that dials `urls` (full nodes' P2P WebSocket addresses). Its trust
   * root: `options.genesis` (the network's genesis document, JSON text as `GET /genesis` serves
   * it; checked against `options.genesisHash` when given), whose validator set the node then
   * follows through governance itself; or `options.validators` (public keys), a fixed set.
   */
  static async connect(urls, options = {}) {
    const list = typeof urls === 'string' ? [urls] : [...urls];
    const { genesis, genesisHash, validators, maxPeers, recentBlocks, orgId, sliceMs } = options;
    const fixed = Array.isArray(validators) && validators.length > 0;
    if (typeof genesis !== 'string' && !fixed) {
      throw new TypeError('LightNode.connect: a trust root is required: options.genesis (and genesisHash) or options.validators');
    }
    const node = spare ?? LightNode.#spawn(options);
    spare = null;
    const config = { urls: list };
    if (typeof genesis === 'string') {
      config.genesis = genesis;
      if (genesisHash !== undefined) config.genesisHash = genesisHash;
    } else {
      config.validators = validators;
    }
    if (maxPeers !== undefined) config.maxPeers = maxPeers;
    if (recentBlocks !== undefined) config.recentBlocks = recentBlocks;
    if (orgId !== undefined) config.orgId = orgId;
    if (sliceMs !== undefined) config.sliceMs = sliceMs;
    try {
      await node.#ready;
      node.#snapshot = await node.#call('start', { options: config });
    } catch (e) {
      node.#worker.terminate();
      throw e;
    }
    return node;
  }

  /**
   * Starts the worker and compiles the wasm ahead of `connect` (e.g. while the page still
   * fetches the trust root); the next `connect` uses it.
   */
  static preload(options = {}) {
    spare ??= LightNode.#spawn(options);
    return spare.#ready;
  }

  /**
   * `worker`: one already running this package's worker.js, and `module`: a promise of the
   * compiled wasm (undefined: the worker fetches it), both started by the page before this
   * module could load (www/app.js).
   */
  static #spawn({ workerUrl, wasmUrl, worker, module } = {}) {
    const node = new LightNode(worker ?? (workerUrl ? new Worker(workerUrl, { type: 'module' }) : makeWorker()));
    const url = wasmUrl && String(wasmUrl);
    const compiled = worker && module ? Promise.resolve(module).catch(() => undefined) : compileHere(url);
    node.#ready = compiled.then((module) => node.#call('init', { wasmUrl: url, module }));
    node.#ready.catch(() => {}); // reported by connect
    return node;
  }

  constructor(worker) {
    super();
    this.#worker = worker;
    worker.onmessage = ({ data }) => (data.kind === 'reply' ? this.#reply(data) : this.#events(data));
    worker.onerror = (e) => {
      const message = `worker: ${e.message ?? e}`;
      for (const { reject } of this.#calls.values()) reject(new Error(message));
      this.#calls.clear();
      this.#emit('error', { message });
    };
  }

  /** Adds a listener that receives the event's detail; returns this (chainable). */
  on(type, listener) {
    this.addEventListener(type, (e) => listener(e.detail));
    return this;
  }

  /** Verified height. */
  get height() { return this.#snapshot.height; }
  /** The highest height a connected peer claims. */
  get target() { return this.#snapshot.target; }
  /** The verified tip: {height, hash, timestamp}. */
  get tip() { return this.#snapshot.tip; }
  /** Connected full nodes: {nodeId, publicKey, orgId, address, height, abandoned}. */
  get peers() { return this.#snapshot.peers; }
  /** {blocksVerified, txsVerified, blocksRejected} since start. */
  get stats() { return this.#snapshot.stats; }
  /** The trusted validator set. */
  get validators() { return this.#snapshot.validators; }
  /** This node's ephemeral identity. */
  get publicKey() { return this.#snapshot.publicKey; }
  get nodeId() { return this.#snapshot.nodeId; }

  /** A verified block from the node's bounded recent window (full JSON), or null. */
  getBlock(height) { return this.#call('block', height); }

  /**
   * The newest `limit` transactions (newest first) of the verified blocks still in the recent
   * window (looking back at most 64 blocks), each with its `blockHeight`.
   */
  recentTransactions(limit = 10) { return this.#call('recentTransactions', limit); }

  /**
   * Verifies a block obtained elsewhere (e.g. a full node's REST API) against the trusted
   * validator set: every rule but linkage, which `chain` reports instead ("same": the block this
   * node verified at that height; "different"; "unknown": older than its recent window;
   * "ahead"). Resolves to {ok, rule, reason, chain}.
   */
  checkBlock(block) { return this.#call('checkBlock', block); }

  /**
   * Checks a state proof (`proof.proof` of `GET /state/:key?proof=true`) of `entry`
   * ({value, version}, or null for an absent key) for `key` under a verified block's
   * `stateRoot`. Resolves to {ok, rule, reason}.
   */
  checkStateProof(root, key, entry, proof) { return this.#call('checkStateProof', { root, key, entry, proof }); }

  /**
   * Signs `tx` ({key, value} for state:set, value null for state:delete, or any payload with a
   * `kind`) with the ephemeral key and broadcasts it. Resolves once sent, with the signed
   * transaction and `committed`, a promise of {height, blockHash} for when a verified block
   * holds it.
   */
  async submit(tx) {
    const transaction = await this.#call('submit', toPayload(tx));
    const committed = new Promise((resolve) => this.#commits.set(transaction.hash, resolve));
    this.#emit('tx', { status: 'pending', hash: transaction.hash, transaction });
    return { hash: transaction.hash, nonce: transaction.nonce, transaction, committed };
  }

  /** Another full node to keep connected to. */
  addPeer(url) { return this.#call('addPeer', url); }

  /** Closes every connection and stops the worker. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    try { await this.#call('close'); } finally { this.#worker.terminate(); }
  }

  #call(method, args) {
    if (this.#closed && method !== 'close') return Promise.reject(new Error('closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, args });
    });
  }

  #reply({ id, result, error }) {
    const call = this.#calls.get(id);
    if (!call) return;
    this.#calls.delete(id);
    if (error !== undefined) call.reject(new Error(error));
    else call.resolve(result);
  }

  #events({ events, snapshot }) {
    if (snapshot) this.#snapshot = snapshot;
    for (const event of events) {
      const { type, ...detail } = event;
      if (type === 'tx' && detail.status === 'committed') {
        this.#commits.get(detail.hash)?.({ height: detail.height, blockHash: detail.blockHash });
        this.#commits.delete(detail.hash);
      }
      this.#emit(type, detail);
    }
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
