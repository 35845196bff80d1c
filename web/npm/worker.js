// The light node's home: a module Web Worker, so syncing and verifying never run on the page's
// main thread. The page side (index.js) talks to it with {id, method, args} requests; events
// from the node are batched and posted at most every FLUSH_MS together with a fresh snapshot,
// so a fast sync costs the page a few small messages per second, not one per block.
import init, { WasmLightNode } from './wasm/miniledger_web.js';

const FLUSH_MS = 50;
let node = null;
let queue = [];
let flushTimer = null;
let lastFlush = 0;

function flush() {
  flushTimer = null;
  lastFlush = performance.now();
  const events = queue.flat();
  queue = [];
  self.postMessage({ kind: 'events', events, snapshot: node && JSON.parse(node.snapshot()) });
}

function onEvents(text) {
  queue.push(JSON.parse(text));
  if (flushTimer === null) {
    const wait = Math.max(0, FLUSH_MS - (performance.now() - lastFlush));
    flushTimer = setTimeout(flush, wait);
  }
}

const methods = {
  async init({ wasmUrl }) {
    await init(wasmUrl ? { module_or_path: wasmUrl } : undefined);
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
  submit: (payload) => JSON.parse(node.submit(JSON.stringify(payload))),
  addPeer: (url) => node.addPeer(url),
  close() {
    node?.close();
    if (flushTimer !== null) clearTimeout(flushTimer);
    flush();
  },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const result = await methods[method](args);
    self.postMessage({ kind: 'reply', id, result });
  } catch (e) {
    self.postMessage({ kind: 'reply', id, error: String(e?.message ?? e) });
  }
};
