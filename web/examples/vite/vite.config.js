import { defineConfig } from 'vite';

export default defineConfig({
  // The package starts its worker with `new Worker(new URL('./worker.js', import.meta.url))` and
  // the worker loads the .wasm the same way; Vite bundles both as assets if the package is not
  // pre-bundled.
  optimizeDeps: { exclude: ['miniledger-web'] },
  worker: { format: 'es' },
});
