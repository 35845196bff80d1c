// The light node's home in a browser: a module Web Worker, so syncing and verifying never run
// on the page's main thread (the protocol is in host.js).
import { serve } from './host.js';
// Also a direct import, so the wasm glue is fetched beside host.js rather than after it.
import './wasm/miniledger_web.js';

const handle = serve((message) => self.postMessage(message));
self.onmessage = ({ data }) => handle(data);
