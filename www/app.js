// The page: a block explorer that is itself a light node (miniledger-web, served from ./pkg/).
// It trusts the network's genesis (?genesis=HASH, else the serving node's, trusted on first use)
// and follows the validator set through governance itself (a 0.2 network: the set the serving
// node reports, or ?validators=), dials the mesh's P2P
// WebSockets, verifies every block in a Web Worker, and shows the chain through views reached
// by deep links (#/block/5, #/state/KEY, …; lib/router below). What the tab verified is marked
// so; what only the serving node says is marked as such (lib/status.js). Query parameters:
// ?peer=ws://host:port (repeatable or comma-separated) adds P2P addresses (with ?only, nothing
// else is dialled); ?validators=k1,k2 overrides the trust root.

// First of all, before this module's imports are even asked for (so none of them is static): the
// light node's worker and the wasm's compile, both handed to LightNode.preload below. On a first
// visit the worker's start (a thread, worker.js, then its two imports) and the compile were the
// longest path to the first verified block, begun only once app.js's imports had arrived and run.
const early = (() => {
  try {
    const worker = new Worker(new URL('./pkg/worker.js', import.meta.url), { type: 'module' });
    const module = typeof WebAssembly.compileStreaming === 'function'
      ? WebAssembly.compileStreaming(fetch(new URL('./pkg/wasm/miniledger_web_bg.wasm', import.meta.url))).catch(() => undefined)
      : undefined;
    return { worker, module };
  } catch {
    return {}; // LightNode.preload starts its own
  }
})();
const [{ LightNode }, { chain, record }, { h }] = await Promise.all([
  import('./pkg/index.js'), import('./lib/chain.js'), import('./lib/dom.js'),
]);
// The views (eleven modules) are asked for once the worker has its scripts and the wasm, so they
// do not take the browser's six connections from the worker's two imports.
const ready = LightNode.preload(early);
const viewModules = ready.catch(() => {}).then(() => import('./views/all.js'));

const $ = (id) => document.getElementById(id);
const MAX_LOG = 50;

/** Test and benchmark hooks (read by tests/browser). */
const metrics = (window.__miniledger = {
  /** Milliseconds since navigation: API answered, light node started, first peer, first block. */
  apiMs: null,
  startedMs: null,
  firstPeerMs: null,
  firstVerifiedMs: null,
  blocksVerified: 0,
  blocksRejected: 0,
  txsVerified: 0,
  rejected: [],
  longTasks: [],
  node: null,
  errors: [],
  /** The route rendered last and when it finished (tests wait on it). */
  rendered: null,
});

async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** P2P addresses: ?peer=, the node's own P2P address if the API reports one, its full peers. */
async function findPeers(params) {
  const urls = params.getAll('peer').flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  if (params.has('only')) return [...new Set(urls)];
  const [status, peers] = await Promise.all([getJson('/status'), getJson('/peers').catch(() => ({ peers: [] }))]);
  // The serving node's own P2P port on the page's host; over https the mesh is wss:// (one
  // certificate for both ports, and an https page may only open wss:// sockets anyway).
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  if (status.p2pAddress) urls.push(status.p2pAddress);
  else if (status.p2pPort) urls.push(`${scheme}://${location.hostname}:${status.p2pPort}`);
  for (const peer of peers.peers ?? []) {
    if (!peer.light && peer.address) urls.push(peer.address);
  }
  return [...new Set(urls)];
}

// The trust root. Ours: the network's genesis, known by its hash (?genesis=HASH; else the hash of
// the genesis the serving node sends, trusted on first use and shown); the tab checks the
// document against the hash and follows the validator set through governance itself. A 0.2
// network (no genesis): the set the serving node reports, or ?validators=.
async function findTrustRoot(params) {
  const given = params.get('validators');
  if (given) return { validators: given.split(',').filter(Boolean), source: 'from the page address (?validators=)' };
  const response = await fetch('/genesis');
  if (response.ok) {
    const { genesis } = await response.json();
    const hash = params.get('genesis') ?? undefined;
    const source = hash
      ? `the network whose genesis hash the page address names (?genesis=${hash}); validator changes followed and verified in this tab`
      : `the genesis ${location.host} served, trusted on first use (open with ?genesis=HASH to insist on one); validator changes followed and verified in this tab`;
    return { genesis: JSON.stringify(genesis), genesisHash: hash, source };
  }
  const consensus = await getJson('/consensus');
  return { validators: consensus.validators, source: `reported by ${location.host} when the page loaded (GET /consensus, ${consensus.algorithm})` };
}

// ---- routes ----
let routes = null;
async function loadRoutes() {
  const { blocks, contracts, governance, network, overview, search, sql, state, tx } = await viewModules;
  routes = {
    '': overview.render,
    blocks: blocks.list,
    block: blocks.detail,
    tx: tx.render,
    state: (args, query, ctx) => (args.length ? state.detail(args, query, ctx) : state.list(args, query, ctx)),
    search: search.render,
    sql: sql.render,
    contracts: contracts.list,
    contract: contracts.detail,
    governance: governance.render,
    network: network.render,
  };
}
/** Routes whose one argument may itself hold '/' (keys, queries, names). */
const WHOLE = new Set(['state', 'search', 'sql', 'contract']);

function parse(hash) {
  const text = hash.replace(/^#\/?/, '');
  const q = text.indexOf('?');
  const path = q < 0 ? text : text.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : text.slice(q + 1));
  const [name = '', ...rest] = path.split('/');
  let args = rest.filter((p, i) => p !== '' || i < rest.length - 1);
  args = WHOLE.has(name) && args.length ? [args.join('/')] : args;
  try {
    return { name, args: args.map(decodeURIComponent), query };
  } catch {
    return { name, args, query };
  }
}

const ctx = { metrics, trust: null };
let current = { refresh: null };
let generation = 0;

async function show() {
  const mine = ++generation;
  const { name, args, query } = parse(location.hash);
  const view = $('view');
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(2);
    if (target === name || (name === 'block' && target === 'blocks') || (name === 'contract' && target === 'contracts')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const handler = routes[name];
  current = { refresh: null };
  view.setAttribute('aria-busy', 'true');
  let result;
  try {
    if (!handler) throw new Error(`no view named "${name}"`);
    result = await handler(args, query, ctx);
  } catch (e) {
    result = { title: 'Error', el: h('div', {}, h('h1', { tabindex: '-1' }, 'Not shown'), h('p', { class: 'bad', role: 'alert', id: 'view-error' }, e.message ?? String(e))) };
  }
  if (mine !== generation) return; // a newer navigation won
  current = result;
  view.replaceChildren(result.el);
  view.removeAttribute('aria-busy');
  document.title = `${result.title} — MiniLedger explorer`;
  // Keyboard and screen-reader users land on the new view's heading.
  if (metrics.rendered !== null) view.querySelector('h1')?.focus({ preventScroll: false });
  metrics.rendered = { hash: location.hash, at: performance.now() };
}

// ---- the header: state pill and sync bar, redrawn at most once per frame ----
let dirty = false;
function schedule() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    const node = metrics.node;
    if (!node) return;
    const { height, target, peers } = node;
    $('bar').style.width = `${target ? Math.min(100, (100 * height) / target) : 100}%`;
    $('bar-label').textContent = `${height} / ${target}`;
    const pill = $('state');
    const live = peers.length > 0;
    pill.textContent = !live ? 'offline — reconnecting' : height < target ? `syncing ${height}/${target}` : `live, verified to ${height}`;
    pill.className = `pill ${!live ? 'offline' : height < target ? 'syncing' : 'live'}`;
  });
}

const events = [];
function log(line) {
  // Not toLocaleTimeString: its first call loads locale data for ~70 ms on the main thread.
  events.push(`${new Date().toISOString().slice(11, 23)}  ${line}`);
  if (events.length > MAX_LOG) events.shift();
  const list = $('log');
  list.prepend(h('li', {}, events[events.length - 1]));
  while (list.children.length > MAX_LOG) list.lastChild.remove();
}

function wire(node) {
  node
    .on('block', (block) => {
      record(block);
      if (block.verified) {
        metrics.blocksVerified++;
        metrics.txsVerified += block.txCount;
        metrics.firstVerifiedMs ??= performance.now();
      } else {
        metrics.blocksRejected++;
        metrics.rejected.push(block);
        if (metrics.rejected.length > 50) metrics.rejected.shift();
        log(`block ${block.height} from ${block.peer} REJECTED: ${block.reason}`);
      }
      schedule();
    })
    .on('peer', (p) => {
      metrics.firstPeerMs ??= performance.now();
      log(p.event === 'connected' ? `connected to ${p.nodeId} at ${p.address} (height ${p.height})` : `disconnected from ${p.nodeId}: ${p.reason}`);
      schedule();
    })
    .on('sync', schedule)
    .on('tx', (t) => {
      if (t.status === 'committed') log(`transaction ${t.hash.slice(0, 12)}… committed in block ${t.height}`);
    })
    .on('error', (e) => {
      metrics.errors.push(e.message);
      if (metrics.errors.length > 50) metrics.errors.shift();
      log(e.message);
    });
}

function watchLongTasks() {
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) metrics.longTasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // Not supported: nothing to record.
  }
}

function wireSearch() {
  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('q').value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  document.addEventListener('keydown', (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? '');
    if (e.key === '/' && !typing) {
      e.preventDefault();
      $('q').focus();
    }
  });
}

async function main() {
  watchLongTasks();
  wireSearch();
  const params = new URLSearchParams(location.search);
  const [urls, trust] = await Promise.all([findPeers(params), findTrustRoot(params)]);
  metrics.apiMs = performance.now();
  ctx.trust = trust;
  $('seeds').textContent = urls.join(', ') || 'no P2P address known: add ?peer=ws://host:port';
  if (urls.length === 0) throw new Error('no P2P address known: open this page with ?peer=ws://host:p2p-port');
  const node = await LightNode.connect(urls, trust.genesis
    ? { genesis: trust.genesis, genesisHash: trust.genesisHash }
    : { validators: trust.validators });
  // The set in force as the tab verified it (it changes with governance).
  Object.defineProperty(trust, 'validators', { get: () => node.validators });
  metrics.node = node;
  chain.node = node;
  metrics.startedMs = performance.now();
  $('me').textContent = `${node.nodeId} (session key ${node.publicKey.slice(0, 16)}…)`;
  wire(node);
  await loadRoutes();
  window.addEventListener('hashchange', show);
  await show();
  schedule();
  // Live views (overview, blocks page 1, network) redraw at most once a second while visible.
  setInterval(() => {
    schedule();
    if (current.refresh && document.visibilityState === 'visible') current.refresh();
  }, 1000);
}

// app.js is an async script: it may run before the document is parsed.
if (document.readyState === 'loading') await new Promise((ok) => document.addEventListener('DOMContentLoaded', ok, { once: true }));
main().catch((e) => {
  metrics.errors.push(String(e.message ?? e));
  const fatal = $('fatal');
  fatal.hidden = false;
  fatal.textContent = `cannot start the light node: ${e.message ?? e}`;
});
