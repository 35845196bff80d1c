// Real `miniledger` processes on loopback: temp data dirs, free ports, readiness polled with
// deadlines, children killed at exit (the same approach as native/tests/common/mod.rs).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
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

export class Node {
  constructor(name, child, dir, p2pPort, apiPort, log) {
    Object.assign(this, { name, child, dir, p2pPort, apiPort, logPath: log });
    this.api = `http://127.0.0.1:${apiPort}`;
    this.p2p = `ws://127.0.0.1:${p2pPort}`;
  }

  /** `miniledger start` (or `join <peer>`) on a fresh data dir (or `dataDir`), ready to serve. */
  static async start(name, { join: peer, args = [], dataDir } = {}) {
    const dir = mkdtempSync(join(tmpdir(), `ml-${name}-`));
    const [p2pPort, apiPort] = [await freePort(), await freePort()];
    const log = join(dir, 'node.log');
    const argv = [
      ...(peer ? ['join', peer] : ['start']),
      '--data-dir', dataDir ?? join(dir, 'data'),
      '--listen-address', '127.0.0.1',
      '--p2p-port', String(p2pPort),
      '--api-port', String(apiPort),
      ...args,
    ];
    const out = openSync(log, 'w');
    const child = spawn(BIN, argv, { stdio: ['ignore', 'ignore', out], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
    children.add(child);
    child.on('exit', () => children.delete(child));
    const node = new Node(name, child, dir, p2pPort, apiPort, log);
    await waitFor(`${name} API`, async () => {
      if (!node.running) throw new Error(`${name} exited:\n${node.log()}`);
      return (await fetch(`${node.api}/status`)).ok;
    });
    return node;
  }

  log() {
    try { return readFileSync(this.logPath, 'utf8'); } catch { return ''; }
  }

  async get(path) {
    const response = await fetch(this.api + path);
    const body = await response.json();
    if (!response.ok) throw new Error(`${this.name} GET ${path}: ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  async post(path, body) {
    const response = await fetch(this.api + path, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${this.name} POST ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
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
