// Browser light-node benchmark (BENCHMARKS.md, "Browser light node"): a release node serves a
// fixture chain (native/examples/make_chain.rs); the page syncs it in headless Chromium.
// Prints, from one run: transactions verified per second in the tab, the same machine's
// single-core native verify rate (native/examples/verify_rate.rs) and their ratio; page load to
// first verified block (warm pages, and FIRST_VISITS=21 first visits with the caches cleared,
// from navigation start and from the `load` event); main-thread long tasks; the wasm size gzipped.
//   BLOCKS=200 TXS_PER_BLOCK=500 SENDERS=1000 node bench.js   (scripts/bench-web.sh builds first)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ARTIFACTS, launch, pageState } from './lib/browser.js';
import { BIN, Node, ROOT, waitFor } from './lib/nodes.js';

const BLOCKS = Number(process.env.BLOCKS ?? 200);
const TXS_PER_BLOCK = Number(process.env.TXS_PER_BLOCK ?? 500);
const SENDERS = Number(process.env.SENDERS ?? 1000);
const release = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'release');
// lib/nodes.js fixed its binary when it was imported (before this line could set it): the
// serving node must be the release build, or every figure measures a debug node.
if (BIN !== join(release, 'miniledger')) {
  throw new Error(`run with MINILEDGER_BIN=${join(release, 'miniledger')} (scripts/bench-web.sh does); got ${BIN}`);
}

const work = mkdtempSync(join(tmpdir(), 'bench-web-'));
const validator = execFileSync(join(release, 'examples/make_chain'), [
  '--out', join(work, 'a'), '--blocks', BLOCKS, '--txs-per-block', TXS_PER_BLOCK, '--senders', SENDERS,
].map(String), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

function nativeVerifyRate() {
  const out = execFileSync(join(release, 'examples/verify_rate'), ['--count', '20000'], { encoding: 'utf8' });
  return Number(out.match(/verifies_per_sec\s+([\d.]+)/)[1]);
}
const nativeBefore = nativeVerifyRate();

const node = await Node.start('bench', { dataDir: join(work, 'a'), args: ['--validators', validator] });
const browser = await launch();
let result;
try {
  await waitFor('fixture served', async () => (await node.status()).height === BLOCKS);
  const page = await browser.newPage();
  // Collect each block's in-worker verification time as it arrives.
  await page.addInitScript(() => {
    window.__bench = { verifyMs: 0, blocks: 0, lastAt: 0 };
  });
  await page.goto(`${node.api}/?peer=${encodeURIComponent(node.p2p)}`);
  await page.waitForFunction(() => window.__miniledger?.node);
  await page.evaluate(() => window.__miniledger.node.on('block', (b) => {
    window.__bench.verifyMs += b.verifyMs;
    window.__bench.blocks++;
    window.__bench.lastAt = performance.now();
  }));
  const done = await waitFor('page synced', async () => {
    const s = await pageState(page);
    return s.height === BLOCKS ? s : false;
  }, { deadline: 600_000, every: 100 });
  const bench = await page.evaluate(() => ({ ...window.__bench, doneAt: performance.now() }));
  await page.screenshot({ path: join(ARTIFACTS, 'bench-synced.png'), fullPage: true });
  // The machine is shared and noisy: the native rate is measured before and after the sync and
  // the faster one is used (the conservative ratio).
  const nativeRate = Math.max(nativeBefore, nativeVerifyRate());
  const txs = done.txsVerified;
  const wallSecs = (bench.doneAt - done.firstVerifiedMs) / 1000;
  // Page load → first verified block on fresh pages: `warm` with the browser's caches as a
  // returning visitor has them; `first visit` with the HTTP and compiled-code caches cleared
  // first (a new visitor whose browser is already running; the very first figure above also
  // pays for a browser that has just started).
  async function firstBlocks(runs, { clearCaches }) {
    const out = [];
    for (let i = 0; i < runs; i++) {
      const fresh = await browser.newPage();
      if (clearCaches) await (await fresh.context().newCDPSession(fresh)).send('Network.clearBrowserCache');
      await fresh.goto(`${node.api}/?peer=${encodeURIComponent(node.p2p)}`);
      const s = await waitFor('first block', async () => {
        const st = await pageState(fresh);
        return st.firstVerifiedMs !== null ? st : false;
      });
      // The `load` event's start too: "after load" can mean either.
      const loadMs = await fresh.evaluate(() => performance.getEntriesByType('navigation')[0]?.loadEventStart ?? null);
      out.push({ firstVerifiedMs: Math.round(s.firstVerifiedMs), loadMs: Math.round(loadMs), apiMs: Math.round(s.apiMs), startedMs: Math.round(s.startedMs), firstPeerMs: Math.round(s.firstPeerMs) });
      await fresh.close();
    }
    return out;
  }
  const median = (runs, of = (f) => f.firstVerifiedMs) => runs.map(of).sort((a, b) => a - b)[runs.length >> 1];
  const firstBlock = await firstBlocks(5, { clearCaches: false });
  const firstVisit = await firstBlocks(Number(process.env.FIRST_VISITS ?? 21), { clearCaches: true });
  const wasm = readFileSync(join(ROOT, 'www/pkg/wasm/miniledger_web_bg.wasm'));
  result = {
    chain: `${BLOCKS} blocks × ${TXS_PER_BLOCK} txs = ${txs} txs from ${SENDERS} senders`,
    firstVerifiedMs: Math.round(done.firstVerifiedMs),
    loadSteps: `API answered ${Math.round(done.apiMs)} ms, node started ${Math.round(done.startedMs)} ms, first peer ${Math.round(done.firstPeerMs)} ms`,
    syncSecondsFromFirstBlock: Number(wallSecs.toFixed(2)),
    txsPerSecWhileSyncing: Math.round(txs / wallSecs),
    txsPerSecVerifyOnly: Math.round(txs / (bench.verifyMs / 1000)),
    nativeSingleCoreVerifyPerSec: Math.round(nativeRate),
    ratio: Number((txs / wallSecs / nativeRate).toFixed(3)),
    longTasksOnMainThread: done.longTasks.length,
    longestMainThreadTaskMs: Math.max(0, ...done.longTasks.map((t) => t.duration)),
    longTasks: done.longTasks.map((t) => `${Math.round(t.duration)} ms at ${Math.round(t.start)} ms`),
    firstVerifiedMsWarm: firstBlock,
    firstVerifiedMsWarmMedian: median(firstBlock),
    firstVerifiedMsFirstVisit: firstVisit.map((f) => f.firstVerifiedMs),
    firstVerifiedMsFirstVisitMedian: median(firstVisit),
    // The same first visits counted from the `load` event rather than from navigation start.
    firstVerifiedMsFirstVisitFromLoadMedian: median(firstVisit, (f) => f.firstVerifiedMs - f.loadMs),
    firstVisitLoadEventMedian: median(firstVisit, (f) => f.loadMs),
    wasmBytes: wasm.length,
    wasmGzipBytes: gzipSync(wasm, { level: 9 }).length,
  };
  writeFileSync(join(ARTIFACTS, 'bench-web.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await node.stop();
  rmSync(work, { recursive: true, force: true });
}
