// Real `miniledger` processes on loopback: temp data dirs, free ports, readiness polled with
// deadlines, children killed at exit (the same approach as native/tests/common/mod.rs).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const BIN = process.env.MINILEDGER_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug/miniledger');
export const DEADLINE_MS = 30_000;

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A free loopback port (held until returned, so two calls never collide). */
export async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Polls `check` (async, truthy when done) until it succeeds or the deadline passes. */
export async function waitFor(what, check, { deadline = DEADLINE_MS, every = 25 } = {}) {
  const end = Date.now() + deadline;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last?.message ?? JSON.stringify(last)})`);
    await new Promise((ok) => setTimeout(ok, every));
  }
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 (openssl), as PEM files in `dir`:
 * `{ cert, key }` paths, for `Node.start(name, { tls })`.
 */
export function selfSignedCert(dir) {
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/** One HTTP(S) request with a JSON answer; `ca` (PEM) is trusted for https. */
function request(url, { method = 'GET', body, ca, token } = {}) {
  const client = url.startsWith('https:') ? https : http;
  const headers = body === undefined ? {} : { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method, headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        try {
          resolve({ ok: res.statusCode >= 200 && res.statusCode < 300, status: res.statusCode, body: JSON.parse(text) });
        } catch (e) {
          reject(new Error(`${method} ${url}: ${res.statusCode}, not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export class Node {
  constructor(name, child, dir, p2pPort, apiPort, log, tls) {
    Object.assign(this, { name, child, dir, p2pPort, apiPort, logPath: log });
    const s = tls ? 's' : '';
    this.api = `http${s}://127.0.0.1:${apiPort}`;
    this.p2p = `ws${s}://127.0.0.1:${p2pPort}`;
    this.ca = tls ? readFileSync(tls.cert, 'utf8') : undefined;
  }

  /**
   * `miniledger start` (or `join <peer>`) on a fresh data dir (or `dataDir`), ready to serve;
   * with `tls` ({ cert, key } PEM paths) both ports speak TLS (https://, wss://).
   */
  static async start(name, { join: peer, args = [], dataDir, tls } = {}) {
    const dir = mkdtempSync(join(tmpdir(), `ml-${name}-`));
    const [p2pPort, apiPort] = [await freePort(), await freePort()];
    const log = join(dir, 'node.log');
    const argv = [
      ...(peer ? ['join', peer] : ['start']),
      '--data-dir', dataDir ?? join(dir, 'data'),
      '--listen-address', '127.0.0.1',
      '--p2p-port', String(p2pPort),
      '--api-port', String(apiPort),
      ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : []),
      ...args,
    ];
    const out = openSync(log, 'w');
    const child = spawn(BIN, argv, { stdio: ['ignore', 'ignore', out], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const node = new Node(name, child, dir, p2pPort, apiPort, log, tls);
    await waitFor(`${name} API`, async () => {
      if (!node.running) throw new Error(`${name} exited:\n${node.log()}`);
      return (await request(`${node.api}/status`, { ca: node.ca })).ok;
    });
    // The operator token lets the tests have the node sign (written before the API listens).
    node.token = readFileSync(join(dataDir ?? join(dir, 'data'), 'operator.token'), 'utf8').trim();
    return node;
  }

  log() {
    try { return readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  async get(path) {
    const response = await request(this.api + path, { ca: this.ca });
    if (!response.ok) throw new Error(`${this.name} GET ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async post(path, body) {
    const response = await request(this.api + path, { method: 'POST', body, ca: this.ca, token: this.token });
    if (!response.ok) throw new Error(`${this.name} POST ${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  status() { return this.get('/status'); }

  /** Submits `count` state:set transactions (signed by the node) and waits until they commit. */
  async feed(count, prefix = 'k') {
    const hashes = [];
    for (let i = 0; i < count; i++) hashes.push((await this.post('/tx', { key: `${prefix}${i}`, value: i })).hash);
    await waitFor(`${this.name}: ${count} txs committed`, async () => {
      const tx = await this.get(`/tx/${hashes.at(-1)}`);
      return tx.blockHeight !== undefined;
    });
    return hashes;
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill() {
    if (!this.running) return;
    const exited = new Promise((ok) => this.child.once('exit', ok));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
