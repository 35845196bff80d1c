// The explorer, end to end: a real node, transactions written by a hostile stranger (script in
// keys, values, contract source, proposal titles), and the page opening every deep link.
//   1. every view renders its content from what the tab verified (blocks, transactions), state
//      with its proof checked in the tab, a tampered proof and a swapped value refused, and a
//      reload of a deep link shows the same view;
//   2. nothing in the hostile data runs in any view (a flag the payloads would set stays unset,
//      no dialog, no element made from the payloads), and the page carries a strict CSP;
//   3. the DOM stays bounded while hundreds of blocks arrive.
// Screenshots of each view go to tests/artifacts/explorer-*.png.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, launch, pageState } from './lib/browser.js';
import { Node, ROOT, waitFor } from './lib/nodes.js';

const PWN = 'window.__pwned=1';
const HOSTILE_KEY = `<img src=x onerror="${PWN};alert(1)">`;
const HOSTILE_VALUE = `<script>${PWN}</script><svg onload="${PWN}">`;
const HOSTILE_CODE = `return { run(ctx) { return "</pre><script>${PWN}</script><img src=x onerror=${PWN}>"; } }`;
const HOSTILE_TITLE = `<img src=x onerror="${PWN};alert('title')">`;

let browser;
let node;
let dialogs = [];
const fixtures = {};

before(async () => {
  browser = await launch();
  node = await Node.start('explorer');
  const { publicKey } = await node.get('/identity');
  fixtures.validator = publicKey;
  fixtures.plain = (await node.post('/tx?wait=commit', { key: 'greeting', value: 'hello' })).hash;
  await node.post('/tx?wait=commit', { key: HOSTILE_KEY, value: HOSTILE_VALUE });
  await node.post('/tx?wait=commit', { key: 'obj', value: { html: HOSTILE_VALUE, n: 1 } });
  const submit = (payload) => node.post('/tx?wait=commit', { type: payload.kind, payload });
  fixtures.deploy = (await submit({ kind: 'contract:deploy', name: 'evil', version: '1.0.0', code: HOSTILE_CODE })).hash;
  fixtures.propose = (await submit({ kind: 'governance:propose', title: HOSTILE_TITLE, description: HOSTILE_VALUE, action: { type: 'update-config', key: 'allowedOrgs', value: [HOSTILE_VALUE] } })).hash;
  // A vote on a proposal the node does not know is admitted (it may only be behind) and fails in
  // its receipt: the hostile id is on the chain.
  await submit({ kind: 'governance:vote', proposalId: `<script>${PWN}</script>`, vote: true });
  await node.feed(3, 'filler-');
  const status = await node.status();
  fixtures.height = status.height;
  fixtures.tip = status.tipHash;
  fixtures.txBlock = (await node.get(`/tx/${fixtures.plain}`)).blockHeight;
  fixtures.txBlockHash = (await node.get(`/blocks/${fixtures.txBlock}`)).hash;
});

after(async () => {
  await browser?.close();
  await node?.stop();
});

async function openPage() {
  const page = await browser.newPage();
  dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  await page.goto(`${node.api}/?peer=${encodeURIComponent(node.p2p)}`);
  await waitFor('page synced', async () => (await pageState(page)).height >= fixtures.height);
  return page;
}

/** Navigates to a route and waits until the view for it has rendered; returns its text. */
async function view(page, hash, { reload = false } = {}) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (reload) await page.reload();
  await page.waitForFunction((h) => window.__miniledger?.rendered?.hash === h, hash, { timeout: 20_000 }).catch(async (e) => {
    throw new Error(`${hash} not rendered: ${e.message}; page: ${JSON.stringify(await page.evaluate(() => ({ r: window.__miniledger?.rendered, errors: window.__miniledger?.errors, view: document.querySelector('#view')?.textContent.slice(0, 300), fatal: document.querySelector('#fatal')?.textContent })))}`);
  });
  return page.textContent('#view');
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `explorer-${name}.png`), fullPage: true });
}

async function assertNothingRan(page, where) {
  const state = await page.evaluate(() => ({
    pwned: window.__pwned,
    imgs: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.src || 'inline'),
    svgsFromData: document.querySelectorAll('svg[onload]').length,
  }));
  assert.equal(state.pwned, undefined, `${where}: a payload ran`);
  assert.equal(state.imgs, 0, `${where}: an <img> was made from chain data`);
  assert.equal(state.svgsFromData, 0, `${where}: an <svg onload> was made from chain data`);
  assert.deepEqual(state.scripts, [`${node.api}/app.js`], `${where}: only the page's own script`);
  assert.deepEqual(dialogs, [], `${where}: a dialog opened`);
}

test('every deep link shows verified content; proofs are checked and tampered ones refused', async () => {
  const page = await openPage();
  const h = fixtures;

  let text = await view(page, '#/');
  assert.match(text, new RegExp(`Verified height${h.height}`));
  assert.ok(await page.locator('figure.chart svg rect').count() > 0, 'charts drawn');
  assert.match(text, /heights, blocks and transactions here are from blocks this tab verified/);
  await shot(page, 'overview');

  text = await view(page, '#/blocks');
  assert.equal(await page.locator('#block-list tbody tr.verified').count(), Math.min(25, h.height));
  // A block's details open under its row, and close again.
  await page.click(`button[aria-controls="details-${h.txBlock}"]`);
  await page.waitForSelector(`#details-${h.txBlock}`);
  assert.match(await page.textContent(`#details-${h.txBlock}`), new RegExp(`${h.txBlockHash}[\\s\\S]*trusted validator`));
  assert.equal(await page.getAttribute(`button[aria-controls="details-${h.txBlock}"]`, 'aria-expanded'), 'true');
  await shot(page, 'blocks-details');
  await page.click(`button[aria-controls="details-${h.txBlock}"]`);
  await page.waitForSelector(`#details-${h.txBlock}`, { state: 'detached' });
  await shot(page, 'blocks');

  text = await view(page, `#/block/${h.txBlock}`);
  assert.match(text, new RegExp(h.txBlockHash));
  assert.match(text, /verified in this tab/);
  assert.match(text, /trusted validator/);
  text = await view(page, `#/block/${h.txBlockHash}`);
  assert.match(text, new RegExp(`Block ${h.txBlock}`));
  await shot(page, 'block');

  text = await view(page, `#/tx/${h.plain}`);
  assert.match(text, new RegExp(h.validator), 'sender');
  assert.match(text, /Nonce0/);
  assert.match(text, /"hello"/);
  assert.match(text, /verified in this tab/);
  await shot(page, 'tx');

  text = await view(page, '#/state');
  assert.match(text, /answered by the serving node, not verified/);
  assert.ok(text.includes(HOSTILE_KEY), 'the hostile key is listed as text');
  await shot(page, 'state');

  text = await view(page, '#/state/greeting');
  assert.equal(await page.getAttribute('.proof', 'data-proof'), 'ok');
  assert.match(text, /proof checked in this tab against the stateRoot of verified block \d+/);
  assert.match(text, /"hello"/);
  assert.match(text, /sender of a transaction in that verified block/);
  await shot(page, 'state-key');
  text = await view(page, `#/state/${encodeURIComponent(HOSTILE_KEY)}`);
  assert.equal(await page.getAttribute('.proof', 'data-proof'), 'ok');
  assert.ok(text.includes(JSON.stringify(HOSTILE_VALUE)), 'the hostile value is shown as (JSON) text');
  text = await view(page, '#/state/no-such-key');
  assert.match(text, /the key does not exist/);
  assert.equal(await page.getAttribute('.proof', 'data-proof'), 'ok', 'absence proven');

  // The serving node lies: a proof with one byte changed, then another value with the real proof.
  const proofOfGreeting = (url) => url.pathname === '/state/greeting' && url.searchParams.get('proof') === 'true';
  await page.route(proofOfGreeting, async (route) => {
    const body = await (await route.fetch()).json();
    const p = body.proof.proof;
    body.proof.proof = p.slice(0, 10) + (p[10] === '0' ? '1' : '0') + p.slice(11);
    await route.fulfill({ json: body });
  });
  text = await view(page, '#/state/greeting', { reload: true });
  assert.equal(await page.getAttribute('.proof', 'data-proof'), 'refused');
  assert.match(text, /proof refused/);
  await shot(page, 'state-tampered');
  await page.unroute(proofOfGreeting);
  await page.route(proofOfGreeting, async (route) => {
    const body = await (await route.fetch()).json();
    body.value = 'goodbye';
    await route.fulfill({ json: body });
  });
  text = await view(page, '#/state/greeting', { reload: true });
  assert.equal(await page.getAttribute('.proof', 'data-proof'), 'refused');
  assert.match(text, /value or version is not the proven one/);
  await page.unroute(proofOfGreeting);
  await waitFor('page synced after reload', async () => (await pageState(page)).height >= h.height);

  for (const [q, expect] of [[String(h.txBlock), `Block ${h.txBlock}`], [h.txBlockHash, `Block ${h.txBlock}`], [h.plain, 'Transaction'],
    ['greet', 'greeting'], [h.validator, 'a validator this tab trusts'], [h.validator.slice(0, 16), 'trusted validator with this nodeId']]) {
    text = await view(page, `#/search/${encodeURIComponent(q)}`);
    assert.ok(text.includes(expect), `search ${q}: ${text}`);
  }
  await shot(page, 'search');

  text = await view(page, `#/sql/${encodeURIComponent('SELECT key, version FROM world_state ORDER BY key')}`);
  assert.match(text, /answered by the serving node, not verified/);
  assert.ok(await page.locator('#sql-result tbody tr').count() >= 3);
  await shot(page, 'sql');

  text = await view(page, '#/contracts');
  assert.match(text, /evil v1\.0\.0/);
  await shot(page, 'contracts');
  text = await view(page, '#/contract/evil');
  assert.equal(await page.textContent('#contract-source'), HOSTILE_CODE, 'the source, as text');
  assert.match(text, /as deployed in a transaction of a verified block|proof checked/);
  await shot(page, 'contract');

  text = await view(page, '#/governance');
  assert.ok(text.includes(HOSTILE_TITLE), 'the proposal title, as text');
  assert.match(text, new RegExp(h.validator));
  assert.match(await page.textContent('#gov-history'), /this tab follows each change itself/);
  assert.match(await page.textContent('#gov-genesis'), /1 validator\(s\), ✓ the same set this tab trusts/);
  await shot(page, 'governance');

  text = await view(page, '#/network');
  assert.match(text, /connections this tab made/);
  assert.ok(text.includes(node.p2p));
  await shot(page, 'network');

  // A deep link survives a reload.
  text = await view(page, `#/tx/${h.plain}`, { reload: true });
  assert.match(text, /verified in this tab/);

  await assertNothingRan(page, 'after every view');
  await page.close();
});

test('nothing written by strangers runs in any view, and the page has a strict CSP', async () => {
  const response = await fetch(`${node.api}/`);
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.match(csp, /default-src 'none'/);
  // No markup sink in the page's code at all (comments aside).
  for (const dir of ['www', 'www/lib', 'www/views']) {
    for (const file of readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(ROOT, dir, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      assert.doesNotMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, `${dir}/${file}`);
    }
  }
  const page = await openPage();
  const routes = ['#/', '#/blocks', '#/state', `#/state/${encodeURIComponent(HOSTILE_KEY)}`, '#/state/obj',
    `#/search/${encodeURIComponent(HOSTILE_KEY)}`, `#/search/${encodeURIComponent('<')}`, `#/sql/${encodeURIComponent('SELECT * FROM world_state')}`,
    '#/contracts', '#/contract/evil', `#/tx/${fixtures.deploy}`, `#/tx/${fixtures.propose}`, '#/governance', '#/network'];
  for (let i = 1; i <= fixtures.height; i++) routes.push(`#/block/${i}`);
  for (const r of routes) {
    await view(page, r);
    await assertNothingRan(page, r);
  }
  // Hostile text in the address itself.
  await view(page, `#/state/${encodeURIComponent(HOSTILE_VALUE)}`);
  await view(page, `#/nosuchview/${encodeURIComponent(HOSTILE_VALUE)}`);
  await assertNothingRan(page, 'hostile routes');
  await page.close();
});

test('keyboard: "/" focuses search, Enter searches and opens a result, focus lands on the view heading, every input labelled; a phone layout without sideways scrolling', async () => {
  const page = await openPage();
  await view(page, '#/');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q');
  await page.keyboard.type(String(fixtures.txBlock));
  await page.keyboard.press('Enter');
  await page.waitForFunction((h) => window.__miniledger.rendered?.hash === h, `#/search/${fixtures.txBlock}`);
  // The result link, then Enter: the block view, with focus on its heading.
  await page.focus('#search-results a');
  await page.keyboard.press('Enter');
  await page.waitForFunction((h) => window.__miniledger.rendered?.hash === h, `#/block/${fixtures.txBlock}`);
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  // Every input has a label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, textarea')].filter((el) => !el.labels?.length).map((el) => el.id));
  assert.deepEqual(unlabelled, []);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const r of ['#/', `#/block/${fixtures.txBlock}`, `#/tx/${fixtures.plain}`, '#/state/greeting', '#/network']) {
    await view(page, r);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${r}: the page scrolls sideways by ${overflow}px on a phone`);
  }
  await view(page, '#/');
  await shot(page, 'phone-overview');
  await view(page, `#/tx/${fixtures.plain}`);
  await shot(page, 'phone-tx');
  await page.close();
});

test('the DOM stays bounded while hundreds of blocks arrive', async () => {
  const page = await openPage();
  const count = () => page.evaluate(() => document.getElementsByTagName('*').length);
  const counts = {};
  // Enough blocks to fill every chart (60 bars) and list first; then 300 more.
  await node.feed(70, 'warm-');
  for (const r of ['#/blocks', '#/']) {
    await view(page, r);
    await new Promise((ok) => setTimeout(ok, 1500));
    counts[r] = [await count()];
  }
  for (let round = 0; round < 10; round++) await node.feed(30, `many-${round}-`);
  const { height } = await node.status();
  await waitFor('page caught up', async () => (await pageState(page)).height === height);
  await new Promise((ok) => setTimeout(ok, 1500));
  counts['#/'].push(await count());
  await view(page, '#/blocks');
  await new Promise((ok) => setTimeout(ok, 1500));
  counts['#/blocks'].push(await count());
  console.log(`DOM elements before/after ${height} blocks: ${JSON.stringify(counts)}`);
  for (const [r, [before, afterMany]] of Object.entries(counts)) {
    assert.ok(afterMany <= before + 10, `${r}: ${before} → ${afterMany} elements`);
    assert.ok(afterMany < 2500, `${r}: ${afterMany} elements`);
  }
  // Block 1 is now older than the light node's window (256 blocks): fetched over REST and
  // verified in the tab, and so is the transaction in it.
  let text = await view(page, `#/block/${fixtures.txBlock}`);
  assert.match(text, /verified in this tab: every signature, hash and the Merkle root, proposer in the trusted set; older than the tab's recent window/);
  text = await view(page, `#/tx/${fixtures.plain}`);
  assert.match(text, /older than the tab's recent window/);
  assert.match(text, /"hello"/);
  // The serving node changes an old block's transaction: the tab refuses it.
  const tampered = fixtures.txBlock + 1;
  await page.route((url) => url.pathname === `/blocks/${tampered}`, async (route) => {
    const block = await (await route.fetch()).json();
    block.transactions[0].payload.value = 'forged';
    await route.fulfill({ json: block });
  });
  text = await view(page, `#/block/${tampered}`);
  assert.match(text, /refused by this tab: tx\.hash/);
  await shot(page, 'block-tampered');
  await page.close();
});
