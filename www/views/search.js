// #/search/Q — a height, block hash, transaction hash, state key (or prefix), public key or
// nodeId. Candidates come from the tab's own records first, then the serving node; every
// result is a link to its view, which verifies it.
import { api, chain } from '../lib/chain.js';
import { h, id, route } from '../lib/dom.js';
import { unverified } from '../lib/status.js';

async function candidates(q) {
  const out = [];
  if (/^\d+$/.test(q)) out.push([route(['block', q], `Block ${q}`), 'height']);
  if (/^[0-9a-f]{64}$/.test(q)) {
    if (chain.byHash.has(q)) out.push([route(['block', q], `Block ${chain.byHash.get(q)}`), 'block hash (verified by this tab)']);
    const tx = await api(`/tx/${q}`).catch(() => null);
    if (tx && tx.hash === q) out.push([route(['tx', q], 'Transaction'), tx.blockHeight === undefined ? 'pending' : `in block ${tx.blockHeight}`]);
    const found = await api(`/search?q=${q}`).catch(() => null);
    if (found?.type === 'block' && !chain.byHash.has(q)) out.push([route(['block', q], `Block ${found.height ?? ''}`), 'block hash']);
    if (chain.node.validators.includes(q)) out.push([id(q), 'a validator this tab trusts']);
    if (found?.type === 'address') {
      const sent = await api(`/tx/sender/${q}?limit=10`).catch(() => null);
      const txs = sent?.transactions ?? sent?.results ?? (Array.isArray(sent) ? sent : []);
      for (const t of txs.slice(0, 10)) out.push([route(['tx', t.hash], `Transaction ${t.hash.slice(0, 12)}…`), `sent by this key, nonce ${t.nonce}`]);
    }
  }
  if (/^[0-9a-f]{16}$/.test(q)) {
    for (const v of chain.node.validators.filter((k) => k.startsWith(q))) out.push([id(v), 'trusted validator with this nodeId']);
    for (const p of chain.node.peers.filter((p) => p.nodeId === q)) out.push([route('network', `Peer ${p.nodeId}`), `connected at ${p.address ?? '?'}`]);
  }
  const exact = await api(`/state/${encodeURIComponent(q)}`).catch(() => null);
  if (exact) out.push([route(['state', q], h('span', { class: 'key' }, q)), 'state key']);
  const listed = await api(`/state?${new URLSearchParams({ prefix: q, limit: '10' })}`).catch(() => null);
  for (const e of listed?.entries ?? []) if (e.key !== q) out.push([route(['state', e.key], h('span', { class: 'key' }, e.key)), 'state key with this prefix']);
  return out;
}

export async function render([q = '']) {
  const rows = q ? await candidates(q.trim()) : [];
  return {
    title: `Search ${q}`,
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'Search'), h('p', {}, 'Results for ', h('q', {}, q)),
      unverified('candidates partly found by the serving node; each is verified when opened'),
      rows.length ? h('ul', { id: 'search-results', class: 'results' }, rows.map(([link, what]) => h('li', {}, link, h('span', { class: 'muted' }, ` — ${what}`))))
        : h('p', { id: 'search-results', class: 'muted' }, 'nothing found')),
  };
}
