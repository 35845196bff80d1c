// miniledger-web for Node.js (>= 20): the same LightNode, with the host (host.js) in this
// thread instead of a Web Worker (Node has none), the wasm read from the package's folder, and
// a WebSocket implementation where the global one is missing (Node < 22): the optional
// dependency `ws`.
import { readFile } from 'node:fs/promises';
import { serve } from './host.js';
import { LightNode, useWorkerFactory } from './index.js';

if (typeof globalThis.WebSocket === 'undefined') {
  try {
    globalThis.WebSocket = (await import('ws')).WebSocket;
  } catch {
    throw new Error('miniledger-web: this Node.js has no global WebSocket (Node < 22): install the `ws` package');
  }
}

const wasm = readFile(new URL('./wasm/miniledger_web_bg.wasm', import.meta.url));

/** Looks like a Worker to index.js; runs the host on this thread, one turn later per message. */
class InThreadWorker {
  onmessage = null;
  onerror = null;
  #handle;
  #closed = false;

  constructor(bytes) {
    this.#handle = bytes.then((b) =>
      serve((data) => setImmediate(() => !this.#closed && this.onmessage?.({ data })), { wasm: b }));
  }

  postMessage(data) {
    this.#handle.then((handle) => handle(data)).catch((e) => this.onerror?.({ message: e.message }));
  }

  terminate() {
    this.#closed = true;
  }
}

useWorkerFactory(() => new InThreadWorker(wasm));

export { LightNode };
