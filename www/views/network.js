// #/network — the tab's own connections (it made them and checked each peer's handshake
// signature) and what the serving node reports about the mesh and consensus (unverified).
import { api, chain } from '../lib/chain.js';
import { badge, fields, h, id, shortId, table, time } from '../lib/dom.js';
import { unverified } from '../lib/status.js';

export async function render() {
  const body = h('div');
  const draw = async () => {
    const [consensus, peers] = await Promise.all([api('/consensus').catch((e) => ({ error: e.message })), api('/peers').catch((e) => ({ error: e.message, peers: [] }))]);
    const mine = chain.node.peers.map((p) => [id(p.nodeId), id(p.address ?? '—'), h('span', { class: 'key' }, p.orgId ?? ''), String(p.height), chain.node.validators.includes(p.publicKey) ? 'validator' : 'full node', p.abandoned ? h('span', { class: 'bad' }, 'skipped (misbehaved or slow)') : '']);
    body.replaceChildren(
      h('section', { class: 'card' }, h('h2', {}, 'This tab\'s peers'),
        badge('ok', 'connections this tab made; each peer proved its key in the handshake'),
        table(['node', 'address', 'org', 'height', 'role', ''], mine, { id: 'peers' })),
      h('section', { class: 'card' }, h('h2', {}, 'Consensus (serving node)'), unverified(),
        consensus.error ? h('p', { class: 'bad' }, consensus.error) : fields([
          ['Algorithm', String(consensus.algorithm)],
          ['Role', String(consensus.role)],
          ['Term', String(consensus.term)],
          ['Leader', id(String(consensus.leader ?? '—'))],
          ['Commit index', String(consensus.commitIndex)],
          ['Validators', h('ul', { class: 'hashes' }, (consensus.validators ?? []).map((k) => h('li', {}, id(k), chain.node.validators.includes(k) ? ' (trusted here)' : ' (NOT trusted by this tab)')))],
        ])),
      h('section', { class: 'card' }, h('h2', {}, 'Mesh (serving node\'s peers)'), unverified(),
        table(['node', 'address', 'org', 'height', 'kind', 'authenticated', 'last seen'], (peers.peers ?? []).map((p) => [shortId(p.nodeId, 16), id(p.address ?? '—'), h('span', { class: 'key' }, p.orgId ?? ''), String(p.height ?? ''), p.light ? 'light' : 'full', p.authenticated ? 'yes' : 'no', time(p.lastSeen)]), { id: 'mesh' })));
  };
  await draw();
  let busy = false;
  let last = performance.now();
  // The serving node's answers are asked for every 3 s, not at every tick.
  const refresh = () => {
    if (busy || performance.now() - last < 3000) return;
    busy = true;
    last = performance.now();
    draw().finally(() => { busy = false; });
  };
  return { title: 'Network', refresh, el: h('div', {}, h('h1', { tabindex: '-1' }, 'Network'), body) };
}
