// End to end: real `miniledger` nodes, the page they serve, headless Chromium.
//   1. the page syncs to the nodes' height with every block verified, submits a transaction
//      signed in the tab and sees it commit, then the node it was served from is killed and it
//      follows the chain through the others;
//   2. a malicious peer serves a tampered block: the page rejects it, says why, and gets the
//      chain from the honest node it learnt about from the malicious peer's own PEER_LIST;
//   3. a node with a TLS certificate serves the page over https, and the page reaches the mesh
//      over wss:// (the scheme taken from the page's own) and follows new blocks;
//   4. a page given only the genesis hash follows every validator-set change (issue 14's run).
// Screenshots go to tests/artifacts/. Run with scripts/web-test.sh (builds first).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, launch, pageState } from './lib/browser.js';
import { startMalicious } from './lib/malicious.js';
import { Node, freePort, selfSignedCert, waitFor } from './lib/nodes.js';

let browser;
const nodes = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const node of nodes) await node.stop();
});

async function start(name, options) {
  const node = await Node.start(name, options);
  nodes.push(node);
  return node;
}

/** Waits until the page has verified up to `height` (and holds `tip`), with no rejection. */
async function pageReaches(page, height, tip) {
  return waitFor(`page at height ${height}`, async () => {
    const s = await pageState(page);
    assert.equal(s.blocksRejected, 0, `rejected: ${JSON.stringify(s.rejected)}`);
    return s.height === height && (!tip || s.tip.hash === tip) ? s : false;
  });
}

test('the page syncs, verifies every block, submits a transaction and fails over', async () => {
  const a = await start('a');
  const validator = (await a.get('/identity')).publicKey;
  const b = await start('b', { join: a.p2p, args: ['--validators', validator] });
  const c = await start('c', { join: a.p2p, args: ['--validators', validator] });
  for (let round = 0; round < 6; round++) await a.feed(5, `r${round}-`);
  const { height, tipHash } = await a.status();
  await waitFor('b and c in sync', async () => (await b.status()).height === height && (await c.status()).height === height);

  const page = await browser.newPage();
  // B's API does not report B's own P2P address (see web/README.md): pass it.
  await page.goto(`${b.api}/?peer=${encodeURIComponent(b.p2p)}`);
  const synced = await pageReaches(page, height, tipHash);
  assert.equal(synced.blocksVerified, height, 'every block verified exactly once');
  assert.deepEqual(synced.validators, [validator], 'trust root from /consensus');
  await waitFor('peers discovered', async () => (await pageState(page)).peers.length === 3);
  // The tab proved its session key to each node in the handshake (challenge-response).
  for (const [name, node] of [['a', a], ['b', b], ['c', c]]) {
    await waitFor(`${name} lists the tab as an authenticated light peer`, async () =>
      (await node.get('/peers')).peers.some((p) => p.light && p.authenticated === true));
  }
  assert.match(await page.textContent('#validators'), new RegExp(validator));
  // The overview lists the newest blocks; #/blocks pages through all of them, newest first.
  await waitFor('newest blocks listed as verified', async () => (await page.locator('#blocks tr.verified').count()) === Math.min(10, height));
  await page.evaluate(() => { location.hash = '#/blocks'; });
  await waitFor('blocks page lists the newest 25 as verified', async () => (await page.locator('#block-list tr.verified').count()) === Math.min(25, height));
  await page.evaluate(() => { location.hash = '#/'; });
  await page.waitForSelector('#submit');
  console.log(`first verified block ${synced.firstVerifiedMs.toFixed(0)} ms after navigation; long tasks: ${JSON.stringify(synced.longTasks)}`);
  writeFileSync(join(ARTIFACTS, 'e2e-metrics.json'), JSON.stringify({ firstVerifiedMs: synced.firstVerifiedMs, longTasks: synced.longTasks }, null, 2));

  // A transaction signed in the tab, through the form.
  await page.fill('#tx-key', 'from-the-browser');
  await page.fill('#tx-value', '{"hello": "mesh"}');
  await page.click('#submit button');
  await page.waitForSelector('#submitted li.ok', { timeout: 30_000 });
  assert.match(await page.textContent('#submitted li.ok'), /committed in verified block \d+/);
  const state = await a.get('/state/from-the-browser');
  assert.deepEqual(state.value, { hello: 'mesh' });
  await page.click('#blocks tr.verified a');
  await page.waitForFunction(() => window.__miniledger.rendered?.hash.startsWith('#/block/'));
  assert.match(await page.textContent('#view'), /verified in this tab/);
  await page.screenshot({ path: join(ARTIFACTS, 'e2e-synced.png'), fullPage: true });

  // Kill the node that served the page (and was its first peer); the page follows A and C.
  await b.kill();
  await waitFor('b dropped', async () => !(await pageState(page)).peers.some((p) => p.address === b.p2p));
  await a.feed(5, 'after-kill-');
  const next = await a.status();
  const followed = await pageReaches(page, next.height, next.tipHash);
  assert.ok(followed.peers.length >= 2, `still connected to A and C: ${JSON.stringify(followed.peers)}`);
  await page.screenshot({ path: join(ARTIFACTS, 'e2e-failover.png'), fullPage: true });
  await page.close();
});

test('a malicious peer serving a tampered block is rejected and reported', async () => {
  const a = await start('honest');
  for (let round = 0; round < 4; round++) await a.feed(3, `m${round}-`);
  const { height, tipHash } = await a.status();
  const evil = await startMalicious({ honest: a, tamperAt: 3, port: await freePort() });
  try {
    const page = await browser.newPage();
    // Only the malicious peer is dialled (`only`); its PEER_LIST leads to the honest node.
    await page.goto(`${a.api}/?only&peer=${encodeURIComponent(evil.url)}`);
    const state = await waitFor('page synced past the tampered block', async () => {
      const s = await pageState(page);
      return s.height === height && s.tip.hash === tipHash ? s : false;
    });
    assert.deepEqual(evil.served, [3]);
    assert.equal(state.blocksRejected, 1);
    assert.equal(state.rejected[0].height, 3);
    assert.equal(state.rejected[0].rule, 'tx.hash');
    assert.equal(state.rejected[0].peer, evil.nodeId);
    assert.equal(state.blocksVerified, height, 'the honest block 3 came from the honest node');
    const row = page.locator('#blocks tr.rejected');
    await row.waitFor();
    assert.match(await row.textContent(), /rejected: tx\.hash/);
    await page.evaluate(() => { location.hash = '#/network'; });
    await waitFor('the malicious peer is marked', async () => (await page.textContent('#peers')).includes('skipped'));
    await page.screenshot({ path: join(ARTIFACTS, 'e2e-malicious.png'), fullPage: true });
    await page.close();
  } finally {
    await evil.close();
  }
});

test('a page served over https syncs over wss', async () => {
  const certDir = mkdtempSync(join(tmpdir(), 'ml-cert-'));
  try {
    const tls = selfSignedCert(certDir);
    const a = await start('tls-a', { tls });
    assert.match(a.api, /^https:/);
    for (let round = 0; round < 3; round++) await a.feed(3, `t${round}-`);
    const { height, tipHash } = await a.status();

    const page = await browser.newPage();
    await page.goto(`${a.api}/`);
    assert.equal(await page.evaluate(() => location.protocol), 'https:');
    const synced = await pageReaches(page, height, tipHash);
    assert.equal(synced.blocksVerified, height, 'every block verified exactly once');
    assert.deepEqual(synced.peers.map((p) => p.address), [a.p2p], 'dialled the wss:// address');
    assert.match(await page.textContent('#seeds'), /wss:\/\/127\.0\.0\.1:/);

    // New blocks keep arriving over the TLS socket.
    await a.feed(3, 'live-');
    const next = await a.status();
    await pageReaches(page, next.height, next.tipHash);
    await page.screenshot({ path: join(ARTIFACTS, 'e2e-tls.png'), fullPage: true });
    await page.close();
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
});

/** Proposes `action` through `node` (signed by it), committed: the proposal id and its receipt. */
async function propose(node, title, action) {
  const payload = { kind: 'governance:propose', title, description: '', action };
  const answer = await node.post('/tx?wait=commit', { type: payload.kind, payload });
  return answer.hash;
}

/** A yes vote on `id` through `node`, once that node has the proposal; the outcome. */
async function vote(node, id) {
  await waitFor(`${node.name} has proposal ${id}`, async () => node.get(`/proposals/${id}`));
  const payload = { kind: 'governance:vote', proposalId: id, vote: true };
  const answer = await node.post('/tx?wait=commit', { type: payload.kind, payload });
  return answer.receipt.result.proposalStatus;
}

/** Waits until the page trusts exactly `keys` (in any order), with nothing rejected. */
async function pageTrusts(page, keys, what) {
  return waitFor(`the page trusts ${what}`, async () => {
    const s = await pageState(page);
    assert.equal(s.blocksRejected, 0, `rejected: ${JSON.stringify(s.rejected)}`);
    return s.validators.length === keys.length && keys.every((k) => s.validators.includes(k)) ? s : false;
  });
}

// Issue 14's acceptance run, seen from a tab: A starts alone, B and C join with no flag; a page
// opened on B is given only the genesis hash and follows, verifying every block against the set
// in force at its height, as B is added (solo → Raft), C is added, the leader is killed with
// kill -9 and voted out by the other two.
test('a page given only the genesis hash follows every validator-set change; another hash is refused', async () => {
  const a = await start('gen-a');
  const { hash } = await a.get('/genesis');
  const b = await start('gen-b', { join: a.p2p });
  const c = await start('gen-c', { join: a.p2p });
  const key = async (node) => (await node.get('/identity')).publicKey;
  const [aKey, bKey, cKey] = [await key(a), await key(b), await key(c)];
  await a.feed(3, 'g-');

  const page = await browser.newPage();
  await page.goto(`${b.api}/?genesis=${hash}&peer=${encodeURIComponent(b.p2p)}`);
  await pageTrusts(page, [aKey], 'the genesis validator');

  // Add B: approved by A alone; the network switches from solo to Raft.
  await propose(a, 'add B', { type: 'add-peer', publicKey: bKey });
  await pageTrusts(page, [aKey, bKey], 'A and B');
  await waitFor('a Raft leader', async () => [(await a.status()).role, (await b.status()).role].includes('leader'));

  // Add C: A proposes, B's vote approves it.
  const addC = await propose(a, 'add C', { type: 'add-peer', publicKey: cKey });
  assert.equal(await vote(b, addC), 'approved');
  await pageTrusts(page, [aKey, bKey, cKey], 'A, B and C');
  await b.feed(4, 'three-');
  const { height, tipHash } = await b.status();
  const synced = await pageReaches(page, height, tipHash);
  assert.equal(synced.blocksVerified, height, 'every block verified exactly once');

  // Kill the leader (if that is B, the page fails over to the nodes it learnt from B); the other
  // two elect a leader and vote the dead one out.
  const all = [[a, aKey], [b, bKey], [c, cKey]];
  const roles = await Promise.all(all.map(([n]) => n.status().then((s) => s.role)));
  const [[dead, deadKey]] = all.splice(roles.indexOf('leader'), 1);
  await dead.kill();
  const [[x, xKey], [y, yKey]] = all;
  console.log(`killed the leader ${dead.name}${dead === b ? ' (the node that served the page)' : ''}`);
  await waitFor('a leader among the two left', async () => [(await x.status()).role, (await y.status()).role].includes('leader'), { deadline: 60_000 });
  const removal = await propose(x, `remove ${dead.name}`, { type: 'remove-peer', publicKey: deadKey });
  assert.equal(await vote(y, removal), 'approved');
  await pageTrusts(page, [xKey, yKey], `the two left (${dead.name} voted out)`);
  await x.feed(3, 'after-removal-');
  const end = await x.status();
  await pageReaches(page, end.height, end.tipHash);
  await page.close();

  const wrong = await browser.newPage();
  await wrong.goto(`${x.api}/?genesis=${'0'.repeat(64)}&peer=${encodeURIComponent(x.p2p)}`);
  await wrong.waitForSelector('#fatal:not([hidden])');
  assert.match(await wrong.textContent('#fatal'), /another network/);
  await wrong.close();
});
