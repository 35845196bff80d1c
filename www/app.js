// The page: a light node (miniledger-web, served from ./pkg/) that trusts the validator set the
// serving node reports, dials the mesh's P2P WebSockets, and shows what it verifies. Rendering
// is batched per animation frame and the lists are bounded, so the main thread stays idle while
// the worker syncs. Query parameters: ?peer=ws://host:port (repeatable or comma-separated) adds
// P2P addresses (with ?only, nothing else is dialled: the mesh is found through them alone);
// ?validators=k1,k2 overrides the trust root.
import { LightNode } from './pkg/index.js';

const $ = (id) => document.getElementById(id);
const short = (hex, n = 12) => (hex ? `${hex.slice(0, n)}…` : '—');
const MAX_ROWS = 100;
const MAX_LOG = 200;

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
  // The serving node's own P2P port (GET /status `p2pPort`), on the host the page came from; a
  // node serving its API over https serves P2P over TLS too (one certificate for both ports),
  // and a page loaded over https may only open wss:// sockets anyway.
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  if (status.p2pAddress) urls.push(status.p2pAddress);
  else if (status.p2pPort) urls.push(`${scheme}://${location.hostname}:${status.p2pPort}`);
  for (const peer of peers.peers ?? []) {
    if (!peer.light && peer.address) urls.push(peer.address);
  }
  return [...new Set(urls)];
}

async function findTrustRoot(params) {
  const given = params.get('validators');
  if (given) return { validators: given.split(',').filter(Boolean), source: 'from the page address (?validators=)' };
  const consensus = await getJson('/consensus');
  return { validators: consensus.validators, source: `reported by ${location.host} (GET /consensus, ${consensus.algorithm})` };
}

// ---- rendering (batched per frame) ----
const pending = { blocks: [], log: [], dirty: false };
const rate = { samples: [] }; // [time ms, blocks, txs]

function schedule() {
  if (!pending.dirty) {
    pending.dirty = true;
    requestAnimationFrame(render);
  }
}

function render() {
  pending.dirty = false;
  const node = metrics.node;
  if (node) renderState(node);
  const rows = pending.blocks.splice(0).slice(-MAX_ROWS);
  const tbody = $('blocks');
  const fragment = document.createDocumentFragment();
  for (const block of rows.reverse()) fragment.append(blockRow(block));
  tbody.prepend(fragment);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
  const log = $('log');
  for (const line of pending.log.splice(0).slice(-MAX_LOG)) {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()}  ${line}`;
    log.prepend(li);
  }
  while (log.children.length > MAX_LOG) log.lastChild.remove();
}

function renderState(node) {
  const { height, target, tip, stats, peers } = node;
  $('height').textContent = height;
  $('target').textContent = target;
  $('tip').textContent = tip.hash;
  $('blocks-verified').textContent = stats.blocksVerified;
  $('txs-verified').textContent = stats.txsVerified;
  $('blocks-rejected').textContent = stats.blocksRejected;
  $('bar').style.width = `${target ? Math.min(100, (100 * height) / target) : 100}%`;
  const state = $('state');
  const live = peers.length > 0;
  state.textContent = !live ? 'offline — reconnecting' : height < target ? `syncing ${height}/${target}` : 'live, verified';
  state.className = `pill ${!live ? 'offline' : height < target ? 'syncing' : 'live'}`;
  const now = performance.now();
  rate.samples.push([now, stats.blocksVerified, stats.txsVerified]);
  while (rate.samples.length > 2 && now - rate.samples[0][0] > 5000) rate.samples.shift();
  const [t0, b0, x0] = rate.samples[0];
  const secs = (now - t0) / 1000;
  if (secs > 0.5) {
    $('rate').textContent = `${((stats.blocksVerified - b0) / secs).toFixed(1)} blocks/s, ${Math.round((stats.txsVerified - x0) / secs)} tx/s`;
  }
  const body = $('peers');
  body.replaceChildren(
    ...peers.map((p) => {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td class="mono"></td><td class="mono"></td><td></td><td></td>';
      tr.cells[0].textContent = p.nodeId;
      tr.cells[1].textContent = p.address ?? '';
      tr.cells[2].textContent = p.height;
      tr.cells[3].textContent = p.abandoned ? 'skipped (misbehaved or slow)' : '';
      tr.cells[3].className = p.abandoned ? 'bad' : '';
      return tr;
    }),
  );
}

function blockRow(block) {
  const tr = document.createElement('tr');
  tr.dataset.height = block.height;
  tr.className = block.verified ? 'verified' : 'rejected';
  tr.innerHTML = '<td></td><td class="mono"></td><td></td><td class="mono"></td><td></td><td></td>';
  tr.cells[0].textContent = block.height;
  tr.cells[1].textContent = short(block.hash, 16);
  tr.cells[2].textContent = block.txCount;
  tr.cells[3].textContent = short(block.peer, 8);
  tr.cells[4].textContent = block.verified ? '✓ verified' : `✗ rejected: ${block.reason}`;
  tr.cells[4].className = block.verified ? 'ok' : 'bad';
  tr.cells[5].textContent = block.verifyMs.toFixed(1);
  tr.onclick = () => showBlock(block);
  return tr;
}

async function showBlock(event) {
  const card = $('detail-card');
  card.hidden = false;
  $('detail-height').textContent = `${event.height} ${event.verified ? '(verified)' : '(rejected)'}`;
  if (!event.verified) {
    $('detail').textContent = JSON.stringify(event, null, 2);
    return;
  }
  const block = await metrics.node.getBlock(event.height);
  $('detail').textContent = block
    ? JSON.stringify(block, null, 2)
    : `${JSON.stringify(event, null, 2)}\n\n(transactions no longer held: the light node keeps only recent blocks)`;
  card.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

function log(line) {
  pending.log.push(line);
  schedule();
}

function wire(node) {
  node
    .on('block', (block) => {
      if (block.verified) {
        metrics.blocksVerified++;
        metrics.txsVerified += block.txCount;
        metrics.firstVerifiedMs ??= performance.now();
        if (metrics.blocksVerified === 1) $('first-block').textContent = `${Math.round(metrics.firstVerifiedMs)} ms after page load`;
      } else {
        metrics.blocksRejected++;
        metrics.rejected.push(block);
        log(`block ${block.height} from ${block.peer} REJECTED: ${block.reason}`);
      }
      pending.blocks.push(block);
      schedule();
    })
    .on('peer', (p) => {
      metrics.firstPeerMs ??= performance.now();
      log(p.event === 'connected' ? `connected to ${p.nodeId} at ${p.address} (height ${p.height})` : `disconnected from ${p.nodeId}: ${p.reason}`);
    })
    .on('sync', schedule)
    .on('tx', (tx) => {
      if (tx.status === 'committed') log(`transaction ${short(tx.hash)} committed in block ${tx.height}`);
    })
    .on('error', (e) => {
      metrics.errors.push(e.message);
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

function wireSubmit(node) {
  $('submit').onsubmit = async (e) => {
    e.preventDefault();
    const key = $('tx-key').value;
    let value;
    try {
      value = JSON.parse($('tx-value').value);
    } catch {
      value = $('tx-value').value; // plain text is a string value
    }
    const li = document.createElement('li');
    $('submitted').prepend(li);
    try {
      const sent = await node.submit({ key, value });
      li.textContent = `${short(sent.hash)} (nonce ${sent.nonce}): sent, waiting for a verified block…`;
      const { height } = await sent.committed;
      li.textContent = `${short(sent.hash)} (nonce ${sent.nonce}): committed in verified block ${height}`;
      li.className = 'ok';
    } catch (err) {
      li.textContent = `not sent: ${err.message}`;
      li.className = 'bad';
    }
  };
}

async function main() {
  watchLongTasks();
  const params = new URLSearchParams(location.search);
  LightNode.preload(); // compile the wasm in the worker while the API answers
  const [urls, trust] = await Promise.all([findPeers(params), findTrustRoot(params)]);
  metrics.apiMs = performance.now();
  $('validators').replaceChildren(
    ...trust.validators.map((k) => Object.assign(document.createElement('li'), { textContent: k })),
  );
  $('trust-source').textContent = trust.source;
  $('seeds').textContent = urls.join(', ') || 'no P2P address known: add ?peer=ws://host:port';
  if (urls.length === 0) throw new Error('no P2P address known: open this page with ?peer=ws://host:p2p-port');
  const node = await LightNode.connect(urls, { validators: trust.validators });
  metrics.node = node;
  metrics.startedMs = performance.now();
  $('me').textContent = `${node.nodeId} (ephemeral key ${short(node.publicKey, 16)})`;
  wire(node);
  wireSubmit(node);
  schedule();
  setInterval(schedule, 1000); // rates and peer heights move without events too
}

main().catch((e) => {
  metrics.errors.push(String(e.message ?? e));
  const fatal = $('fatal');
  fatal.hidden = false;
  fatal.textContent = `cannot start the light node: ${e.message ?? e}`;
});
