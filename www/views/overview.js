// #/ — the overview: heights and rates, charts of the last blocks the tab verified, the newest
// blocks and transactions, the trust root, a form to submit a transaction signed in the tab.
import { bars } from '../lib/chart.js';
import { chain } from '../lib/chain.js';
import { badge, h, id, route, shortId, table } from '../lib/dom.js';

const CHART_BLOCKS = 60;
const LIST = 10;
/** Submissions of this tab shown on the overview (newest first), bounded. */
const submitted = [];

export function rates() {
  const r = chain.recent;
  if (r.length < 2) return { txPerSec: 0, blocksPerSec: 0 };
  const first = r[Math.max(0, r.length - CHART_BLOCKS)];
  const last = r[r.length - 1];
  const secs = Math.max(0.001, (last.timestamp - first.timestamp) / 1000);
  const window = r.slice(-CHART_BLOCKS);
  const txs = window.slice(1).reduce((n, b) => n + b.txCount, 0);
  return { txPerSec: txs / secs, blocksPerSec: (window.length - 1) / secs };
}

function blockRows(events) {
  return events.map((b) => ({
    props: { class: b.verified ? 'verified' : 'rejected' },
    cells: [
      route(['block', b.height], String(b.height)),
      b.verified ? route(['block', b.hash], shortId(b.hash, 12)) : shortId(b.hash, 12),
      String(b.txCount),
      shortId(b.proposer, 8),
      b.verified ? h('span', { class: 'ok' }, '✓ verified') : h('span', { class: 'bad' }, `✗ rejected: ${b.reason}`),
      b.verifyMs.toFixed(1),
    ],
  }));
}

async function recentTxs() {
  const txs = await chain.node.recentTransactions(LIST);
  return txs.map((tx) => [route(['tx', tx.hash], shortId(tx.hash, 12)), tx.type, shortId(tx.sender, 8), String(tx.nonce), route(['block', tx.blockHeight], String(tx.blockHeight))]);
}

function submitForm() {
  const key = h('input', { id: 'tx-key', name: 'key', required: true, autocomplete: 'off' });
  const value = h('input', { id: 'tx-value', name: 'value', required: true, autocomplete: 'off', placeholder: '"hello" or 42 or {"a":1}' });
  const log = h('ul', { id: 'submitted', class: 'log', 'aria-live': 'polite' }, submitted.map((s) => s.li));
  const form = h('form', { id: 'submit' },
    h('label', { for: 'tx-key' }, 'Key'), key,
    h('label', { for: 'tx-value' }, 'Value (JSON or text)'), value,
    h('button', { type: 'submit' }, 'Sign here and send'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(value.value);
    } catch {
      parsed = value.value; // plain text is a string value
    }
    const li = h('li', {}, 'signing…');
    submitted.unshift({ li });
    if (submitted.length > 20) submitted.pop();
    log.prepend(li);
    while (log.children.length > 20) log.lastChild.remove();
    try {
      const sent = await chain.node.submit({ key: key.value, value: parsed });
      li.replaceChildren(`${sent.hash.slice(0, 12)}… (nonce ${sent.nonce}): sent, waiting for a verified block…`);
      const { height } = await sent.committed;
      li.replaceChildren(route(['tx', sent.hash], `${sent.hash.slice(0, 12)}…`), ` (nonce ${sent.nonce}): committed in verified block ${height}`);
      li.className = 'ok';
    } catch (err) {
      li.replaceChildren(`not sent: ${err.message}`);
      li.className = 'bad';
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'submit-h' },
    h('h2', { id: 'submit-h' }, 'Submit a transaction'),
    h('p', { class: 'muted' }, 'Signed in this tab with its session key; the commit is reported once a verified block holds it.'),
    form, log);
}

export function render(_args, _query, ctx) {
  const live = h('div', { class: 'cards' });
  const txsCard = h('section', { class: 'card', 'aria-labelledby': 'txs-h' }, h('h2', { id: 'txs-h' }, 'Recent transactions'), h('p', { class: 'muted' }, '…'));
  let txBusy = false;
  const refresh = () => {
    // Not while focus is inside the live part: a keyboard user's place would be lost.
    if (live.contains(document.activeElement)) return;
    const node = chain.node;
    const { txPerSec, blocksPerSec } = rates();
    const window = chain.recent.slice(-CHART_BLOCKS);
    const intervals = window.slice(1).map((b, i) => b.timestamp - window[i].timestamp);
    const events = [...chain.recent.slice(-LIST), ...chain.rejected.slice(-3)].sort((a, b) => b.height - a.height || (a.verified ? 1 : -1)).slice(0, LIST + 3);
    live.replaceChildren(
      h('section', { class: 'card', 'aria-labelledby': 'chain-h' },
        h('h2', { id: 'chain-h' }, 'Chain'),
        h('dl', { class: 'grid' },
          h('dt', {}, 'Verified height'), h('dd', { id: 'height' }, String(node.height)),
          h('dt', {}, 'Network height'), h('dd', { id: 'target' }, `${node.target} (as peers claim)`),
          h('dt', {}, 'Tip'), h('dd', {}, node.tip.height ? route(['block', node.tip.hash], shortId(node.tip.hash, 16)) : '—'),
          h('dt', {}, 'Throughput'), h('dd', { id: 'rate' }, `${txPerSec.toFixed(1)} tx/s, ${blocksPerSec.toFixed(2)} blocks/s (last ${window.length} blocks, by block time)`),
          h('dt', {}, 'Verified since load'), h('dd', {}, `${node.stats.blocksVerified} blocks, ${node.stats.txsVerified} transactions`),
          h('dt', {}, 'Rejected blocks'), h('dd', { id: 'blocks-rejected' }, String(node.stats.blocksRejected)),
          h('dt', {}, 'First verified block'), h('dd', { id: 'first-block' }, ctx.metrics.firstVerifiedMs === null ? '—' : `${Math.round(ctx.metrics.firstVerifiedMs)} ms after page load`))),
      h('section', { class: 'card', 'aria-labelledby': 'charts-h' },
        h('h2', { id: 'charts-h' }, 'Last blocks'),
        bars('Transactions per block', window.map((b) => b.txCount), 'txs'),
        bars('Block interval', intervals, 'ms'),
        bars('Verify time in this tab', window.map((b) => b.verifyMs), 'ms')),
      h('section', { class: 'card wide', 'aria-labelledby': 'blocks-h' },
        h('h2', { id: 'blocks-h' }, 'Recent blocks ', route('blocks', 'all blocks →', { class: 'more' })),
        table(['height', 'hash', 'txs', 'proposer', 'check', 'verify ms'], blockRows(events), { id: 'blocks' })),
    );
    if (!txBusy) {
      txBusy = true;
      recentTxs().then((rows) => {
        txsCard.replaceChildren(h('h2', { id: 'txs-h' }, 'Recent transactions'),
          rows.length ? table(['hash', 'type', 'sender', 'nonce', 'block'], rows) : h('p', { class: 'muted' }, 'none in the last blocks'));
      }).finally(() => { txBusy = false; });
    }
  };
  refresh();
  const trust = h('section', { class: 'card', 'aria-labelledby': 'trust-h' },
    h('h2', { id: 'trust-h' }, 'Trusted validators'),
    h('p', { class: 'muted', id: 'trust-source' }, ctx.trust.source),
    h('ul', { id: 'validators', class: 'hashes' }, ctx.trust.validators.map((k) => h('li', {}, id(k)))));
  const el = h('div', {}, h('h1', { tabindex: '-1' }, 'Overview'), live, h('div', { class: 'cards' }, txsCard, submitForm(), trust),
    badge('ok', 'heights, blocks and transactions here are from blocks this tab verified'));
  return { el, refresh, title: 'Overview' };
}
