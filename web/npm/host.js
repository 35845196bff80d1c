// The light node's host: the wasm node and the request/event protocol the page side (index.js)
// speaks with it. worker.js runs it in a module Web Worker (browsers); node.js runs it in the
// same thread (Node.js, where there is no Web Worker). Events from the node are batched and
// posted at most every FLUSH_MS together with a fresh snapshot, so a fast sync costs the page a
// few small messages per second, not one per block.
import init, { WasmLightNode } from './wasm/miniledger_web.js';

const FLUSH_MS = 50;

/** Starts a host that answers `{id, method, args}` requests; `post` carries replies and events. */
export function serve(post, { wasm } = {}) {
  let node = null;
  let queue = [];
  let flushTimer = null;
  let lastFlush = 0;

  function flush() {
    flushTimer = null;
    lastFlush = performance.now();
    const events = queue.flat();
    queue = [];
    post({ kind: 'events', events, snapshot: node && JSON.parse(node.snapshot()) });
  }

  function onEvents(text) {
    queue.push(JSON.parse(text));
    if (flushTimer === null) {
      const wait = Math.max(0, FLUSH_MS - (performance.now() - lastFlush));
      flushTimer = setTimeout(flush, wait);
    }
  }

  const methods = {
    async init({ wasmUrl, module }) {
      // `module`: compiled by the page while this worker's scripts loaded (index.js).
      const source = module ?? wasm ?? (wasmUrl ? wasmUrl : undefined);
      await init(source === undefined ? undefined : { module_or_path: source });
    },
    start({ options }) {
      node = new WasmLightNode(JSON.stringify(options), onEvents);
      return JSON.parse(node.snapshot());
    },
    snapshot: () => JSON.parse(node.snapshot()),
    block: (height) => {
      const text = node.block(height);
      return text === undefined ? null : JSON.parse(text);
    },
    recentTransactions: (limit) => {
      // Parsed here, in the worker: the page gets `limit` transactions, not whole blocks.
      const out = [];
      for (let h = node.height(), scanned = 0; h >= 1 && out.length < limit && scanned < 64; h--, scanned++) {
        const text = node.block(h);
        if (text === undefined) break;
        const { transactions } = JSON.parse(text);
        for (let i = transactions.length - 1; i >= 0 && out.length < limit; i--) out.push({ ...transactions[i], blockHeight: h });
      }
      return out;
    },
    checkBlock: (block) => JSON.parse(node.checkBlock(JSON.stringify(block))),
    checkStateProof: ({ root, key, entry, proof }) =>
      JSON.parse(node.checkStateProof(root, key, JSON.stringify(entry ?? null), proof)),
    submit: (payload) => JSON.parse(node.submit(JSON.stringify(payload))),
    addPeer: (url) => node.addPeer(url),
    close() {
      node?.close();
      if (flushTimer !== null) clearTimeout(flushTimer);
      flush();
    },
  };

  return async ({ id, method, args }) => {
    try {
      const result = await methods[method](args);
      post({ kind: 'reply', id, result });
    } catch (e) {
      post({ kind: 'reply', id, error: String(e?.message ?? e) });
    }
  };
}
