// The light node's home in a browser: a module Web Worker, so syncing and verifying never run
// on the page's main thread (the protocol is in host.js).
import { serve } from './host.js';

const handle = serve((message) => self.postMessage(message));
self.onmessage = ({ data }) => handle(data);
