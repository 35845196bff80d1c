// MiniLedger 0.2's own dashboard (a real 0.2 REST client, from the reference's source snapshot)
// served against our API: it must show our chain. 0.2 serves it from its API port at /dashboard
// and takes `window.location.origin` as the API, so the test serves its three files the way 0.2
// does and forwards every other request, unchanged, to our node: one origin, as a 0.2 user has.
// Without ../shared (or $MINILEDGER_SHARED_DIR) the test skips, saying so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, launch } from './lib/browser.js';
import { Node, ROOT, waitFor } from './lib/nodes.js';

const SHARED = process.env.MINILEDGER_SHARED_DIR ?? join(ROOT, '../shared');
const TARBALL = join(SHARED, 'reference/miniledger-0.2.0-src.tar.gz');
const SKIP = existsSync(TARBALL) ? false : `no MiniLedger 0.2 reference at ${TARBALL} (clone without ../shared)`;

let browser;
let node;
let server;
let dir;

/** The dashboard folder of the 0.2 source snapshot, extracted into a temp dir. */
function extractDashboard() {
  dir = mkdtempSync(join(tmpdir(), 'ml-dashboard02-'));
  execFileSync('tar', ['-xzf', TARBALL, '-C', dir, '--strip-components=1', 'miniledger-0.2.0/dashboard']);
  return join(dir, 'dashboard');
}

/** 0.2's routes for the dashboard (src/api/server.ts), everything else proxied to `api`. */
function serveDashboard(dashboard, api) {
  const file = (name) => readFileSync(join(dashboard, name));
  const types = { 'app.js': 'application/javascript', 'style.css': 'text/css' };
  server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/dashboard' || path.startsWith('/dashboard/')) {
      const name = path.slice('/dashboard/'.length);
      const asset = types[name] ? name : 'index.html';
      res.writeHead(200, { 'content-type': types[asset] ?? 'text/html; charset=utf-8' });
      res.end(file(asset));
      return;
    }
    const upstream = http.request(`${api}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(upstream);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${server.address().port}`)));
}

before(async () => {
  if (SKIP) return;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The text of the dashboard's main panel once `what` shows in it (`textContent`: the
 *  dashboard's CSS upper-cases labels, which `innerText` would report). */
async function panelShows(page, what) {
  return waitFor(`dashboard shows ${what}`, async () => {
    const text = await page.locator('#app').textContent();
    return text.includes(what) ? text : false;
  });
}

/** The overview's stat cards, label → value. */
function stats(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.stat')]
    .map((el) => [el.querySelector('.stat-label').textContent, el.querySelector('.stat-value').textContent])));
}

test("0.2's own dashboard, served against our API, shows our chain", { skip: SKIP }, async () => {
  node = await Node.start('ours');
  const hashes = [...(await node.feed(3, 'alpha-')), ...(await node.feed(3, 'beta-'))];
  const { height, tipHash } = await node.status();
  const identity = await node.get('/identity');
  const origin = await serveDashboard(extractDashboard(), node.api);

  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // Overview: height from /status, blocks and transactions from /blocks, the SQL state count.
  await page.goto(`${origin}/dashboard#/`);
  const overview = await panelShows(page, 'Block Height');
  const shown = await stats(page);
  assert.equal(shown['Block Height'], String(height), JSON.stringify(shown));
  assert.equal(shown['State Keys'], '6', 'six state keys counted through POST /state/query');
  assert.ok(overview.includes(`#${height}`), 'the latest block listed');
  await waitFor('top bar height', async () => (await page.locator('#tb-height').innerText()) === String(height));

  // Blocks, paginated by 0.2's fields; a block's detail; a transaction's, with its block.
  await page.goto(`${origin}/dashboard#/blocks`);
  const blocks = await panelShows(page, 'Page 1 of 1');
  assert.ok(blocks.includes(`#${height}`), `the tip listed:\n${blocks}`);
  await page.goto(`${origin}/dashboard#/block/${height}`);
  await panelShows(page, tipHash);
  await page.goto(`${origin}/dashboard#/tx/${hashes[0]}`);
  const tx = await panelShows(page, hashes[0]);
  assert.match(tx, /alpha-0/, 'the payload shown');
  assert.match(tx, /Block #\d+/, 'its block found through POST /state/query');

  // State with 0.2's provenance fields, and a key's detail.
  await page.goto(`${origin}/dashboard#/state`);
  const state = await panelShows(page, 'beta-2');
  assert.ok(!state.includes('undefined'), `no missing field in the state table:\n${state}`);
  await page.goto(`${origin}/dashboard#/state/alpha-1`);
  const entry = await panelShows(page, 'Updated By');
  assert.ok(entry.includes(identity.publicKey), 'updatedBy is our node');
  assert.ok(!entry.includes('Invalid Date'), `updatedAt is a timestamp:\n${entry}`);

  // Network: our identity and consensus state.
  await page.goto(`${origin}/dashboard#/network`);
  const network = await panelShows(page, identity.publicKey);
  assert.doesNotMatch(network, /undefined/);

  await page.screenshot({ path: join(ARTIFACTS, 'dashboard02.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script error in the 0.2 dashboard');
});
