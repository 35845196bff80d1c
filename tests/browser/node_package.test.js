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

test('given only the genesis hash, the light node follows the network through validator changes', async () => {
  const a = await Node.start('gov-a');
  nodes.push(a);
  const { hash } = await a.get('/genesis');
  const b = await Node.start('gov-b', { join: a.p2p });
  const c = await Node.start('gov-c', { join: a.p2p });
  nodes.push(b, c);
  const child = spawn(process.execPath, [join(EXAMPLES, 'node/follow.js'), a.api, '--genesis-hash', hash], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const governance = async (node, payload) => node.post('/tx?wait=commit', { type: payload.kind, payload });
  const add = (key) => ({ kind: 'governance:propose', title: 'add', description: '', action: { type: 'add-peer', publicKey: key } });
  try {
    const keyOf = async (n) => (await n.get('/identity')).publicKey;
    const [bKey, cKey] = [await keyOf(b), await keyOf(c)];
    await governance(a, add(bKey)); // A alone approves: solo → Raft
    const proposal = await governance(a, add(cKey));
    await governance(b, { kind: 'governance:vote', proposalId: proposal.hash, vote: true });
    await waitFor('three validators', async () => (await c.get('/consensus')).validators.length === 3);
    // A, the genesis validator, goes: B or C leads and proposes the blocks from now on.
    await a.kill();
    await waitFor('a leader among B and C', async () => [(await b.status()).role, (await c.status()).role].includes('leader'));
    await b.feed(3, 'after-a-');
    const { height } = await b.status();
    await waitFor(`the light node verified up to ${height}`, async () => out.includes(`\n${height} verified `) || out.startsWith(`${height} verified `), { deadline: 60_000 });
  } finally {
    child.kill();
    if (process.env.DEBUG_GOV) console.error('OUT', out, 'ERR', err);
  }
  assert.match(err, new RegExp(`genesis hash is ${hash}`), err);
  assert.doesNotMatch(out, /REJECTED/, out);
  const proposers = new Set(out.trim().split('\n').map((l) => l.match(/proposer=(\w+)/)?.[1]));
  const [bKey, cKey] = [(await b.get('/identity')).publicKey, (await c.get('/identity')).publicKey];
  assert.ok(proposers.has(bKey.slice(0, 16)) || proposers.has(cKey.slice(0, 16)), `blocks by a validator added by governance were verified: ${[...proposers]}`);
});
