// miniledger-web outside the browser: the Node.js example (web/examples/node/follow.js) follows
// a real node, printing each block its light node verified (the same wasm, run in this thread,
// over the `ws` package's WebSocket on Node < 22); the typed example passes `tsc --noEmit`; the
// Vite example builds.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Node, ROOT, waitFor } from './lib/nodes.js';

const EXAMPLES = join(ROOT, 'web/examples');
const nodes = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

test('the Node.js example follows a real node and prints verified blocks', async () => {
  const a = await Node.start('node-example');
  nodes.push(a);
  await a.feed(4, 'before-');
  const { height } = await a.status();
  const more = 3;
  const child = spawn(process.execPath, [join(EXAMPLES, 'node/follow.js'), a.api, '--count', String(height + more)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((ok) => child.on('exit', ok));
  try {
    await waitFor('synced blocks printed', async () => out.split('\n').filter((l) => l.includes(' verified ')).length >= height);
    // New blocks after it caught up: it follows them live.
    await a.feed(more, 'after-');
    assert.equal(await Promise.race([exited, new Promise((ok) => setTimeout(() => ok('timeout'), 30_000).unref())]), 0, `exit (stderr: ${err})`);
  } finally {
    child.kill();
  }
  const lines = out.trim().split('\n');
  assert.equal(lines.length, height + more, out);
  for (const [i, line] of lines.entries()) {
    const block = await a.get(`/blocks/${i + 1}`);
    assert.match(line, new RegExp(`^${i + 1} verified ${block.hash} txs=${block.transactions.length} `), line);
  }
});

test('npm pack makes a package that installs and runs in a fresh folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ml-pack-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: join(ROOT, 'web/npm'), encoding: 'utf8' }));
    const files = packed.files.map((f) => f.path).sort();
    for (const f of ['host.js', 'index.d.ts', 'index.js', 'node.js', 'package.json', 'wasm/miniledger_web.js', 'wasm/miniledger_web_bg.wasm', 'worker.js']) assert.ok(files.includes(f), `${f} packed: ${files}`);
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    execFileSync('cp', [join(EXAMPLES, 'node/follow.js'), join(app, 'follow.mjs')]);
    execFileSync('npm', ['init', '-y'], { cwd: app, stdio: 'ignore' });
    // ws (the optional dependency) comes from npm's cache when it is there (scripts/web-setup.sh filled it).
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed.filename)], { cwd: app, stdio: 'inherit' });
    const a = await Node.start('pack');
    nodes.push(a);
    await a.feed(2, 'pack-');
    const { height } = await a.status();
    const out = execFileSync(process.execPath, [join(app, 'follow.mjs'), a.api, '--count', String(height)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(out.trim().split('\n').length, height, out);
    assert.match(out, new RegExp(`^${height} verified ${(await a.status()).tipHash}`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the typed example passes tsc --noEmit', { skip: !existsSync(join(EXAMPLES, 'node/node_modules/typescript')) && 'npm ci in web/examples/node first (scripts/web-setup.sh)' }, () => {
  execFileSync(join(EXAMPLES, 'node/node_modules/.bin/tsc'), ['--noEmit', '-p', join(EXAMPLES, 'node')], { stdio: 'inherit' });
});

test('the Vite example builds, with the worker and the wasm as assets', { skip: !existsSync(join(EXAMPLES, 'vite/node_modules/vite')) && 'npm ci in web/examples/vite first (scripts/web-setup.sh)' }, () => {
  const out = mkdtempSync(join(tmpdir(), 'vite-out-'));
  try {
    execFileSync(join(EXAMPLES, 'vite/node_modules/.bin/vite'), ['build', '--outDir', out, '--emptyOutDir'], { cwd: join(EXAMPLES, 'vite'), stdio: 'inherit' });
    const files = execFileSync('find', [out, '-type', 'f'], { encoding: 'utf8' });
    assert.match(files, /\.wasm\n/, files);
    assert.match(files, /worker[^/\n]*\.js\n/, files);
    assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /<script type="module"/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
