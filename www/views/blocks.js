// #/blocks (paginated, newest first, from the tab's verified tip) and #/block/N | #/block/HASH.
import { chain, heightOfHash, isTrusted, verifiedBlock } from '../lib/chain.js';
import { badge, fields, h, id, json, route, shortId, table, time } from '../lib/dom.js';
import { blockBadge } from '../lib/status.js';

const PAGE = 25;
const TX_PAGE = 50;

function pager(base, page, pages, query = {}) {
  const link = (p, text) => {
    const q = new URLSearchParams({ ...query, page: String(p) });
    const a = route(base, text);
    a.setAttribute('href', `${a.getAttribute('href')}?${q}`);
    return a;
  };
  return h('nav', { class: 'pager', 'aria-label': 'pages' },
    page > 1 ? link(page - 1, '← newer') : h('span', { class: 'muted' }, '← newer'),
    h('span', {}, ` page ${page} of ${pages} `),
    page < pages ? link(page + 1, 'older →') : h('span', { class: 'muted' }, 'older →'));
}

/** One row: from the tab's own record when it has one, else fetched and verified here. */
async function row(height) {
  const ev = chain.byHeight.get(height);
  if (ev) {
    return { props: { class: 'verified' }, cells: [route(['block', height], String(height)), route(['block', ev.hash], shortId(ev.hash, 12)), String(ev.txCount), shortId(ev.proposer, 8), time(ev.timestamp), h('span', { class: 'ok' }, '✓ synced')] };
  }
  try {
    const found = await verifiedBlock(height);
    const b = found.block;
    const ok = found.check.ok && found.check.chain !== 'different';
    return { props: { class: ok ? 'verified' : 'rejected' }, cells: [route(['block', height], String(height)), route(['block', b.hash], shortId(b.hash, 12)), String(b.transactions.length), shortId(b.proposer, 8), time(b.timestamp), ok ? h('span', { class: 'ok' }, '✓ checked') : h('span', { class: 'bad' }, `✗ ${found.check.reason ?? 'not on this chain'}`)] };
  } catch (e) {
    return { props: { class: 'rejected' }, cells: [String(height), '—', '—', '—', '—', h('span', { class: 'bad' }, e.message)] };
  }
}

/** The details of one block, opened under its row in the list. */
async function details(height) {
  const found = await verifiedBlock(height);
  const b = found.block;
  return h('div', { class: 'row-details', id: `details-${height}` },
    blockBadge(found),
    fields([
      ['Hash', id(b.hash)],
      ['Previous', id(b.previousHash)],
      ['Proposer', [id(b.proposer), ' ', isTrusted(b.proposer) ? badge('ok', 'trusted validator') : badge('bad', 'not a trusted validator')]],
      ['Merkle root', id(b.merkleRoot)],
      ['State root', id(b.stateRoot)],
      ['Transactions', String(b.transactions.length)],
    ]),
    route(['block', height], `open block ${height} →`));
}

export async function list(_args, query) {
  const top = chain.node.height;
  const pages = Math.max(1, Math.ceil(top / PAGE));
  const page = Math.min(pages, Math.max(1, Number(query.get('page')) || 1));
  const body = h('div');
  /** The height whose details are open under its row (one at a time). */
  let open = null;
  const draw = async () => {
    const tip = chain.node.height;
    const heights = [];
    for (let hgt = tip - (page - 1) * PAGE; hgt >= 1 && heights.length < PAGE; hgt--) heights.push(hgt);
    const rows = (await Promise.all(heights.map(async (hgt) => {
      const r = await row(hgt);
      const toggle = h('button', { type: 'button', class: 'toggle', 'aria-expanded': String(open === hgt), 'aria-controls': `details-${hgt}`, 'aria-label': `details of block ${hgt}` }, open === hgt ? '▾' : '▸');
      toggle.addEventListener('click', () => {
        open = open === hgt ? null : hgt;
        draw().then(() => body.querySelector(`[aria-controls="details-${hgt}"]`)?.focus());
      });
      r.cells.unshift(toggle);
      return open === hgt ? [r, { props: { class: 'details' }, full: await details(hgt).catch((e) => h('p', { class: 'bad' }, e.message)) }] : [r];
    }))).flat();
    body.replaceChildren(
      pager('blocks', page, Math.max(1, Math.ceil(tip / PAGE))),
      table(['', 'height', 'hash', 'txs', 'proposer', 'time', 'check'], rows, { id: 'block-list' }),
      h('p', { class: 'muted' }, '✓ synced: verified by this tab as it synced; ✓ checked: older than what the tab keeps, fetched from the serving node and verified here (signatures, hashes, trusted proposer).'));
  };
  await draw();
  let busy = false;
  // Page 1 follows the tip; older pages stay put.
  // (Not while focus is inside the list: a keyboard user's place would be lost.)
  const refresh = page === 1 ? () => {
    if (busy || body.contains(document.activeElement)) return;
    busy = true;
    draw().finally(() => { busy = false; });
  } : null;
  return { title: 'Blocks', refresh, el: h('div', {}, h('h1', { tabindex: '-1' }, 'Blocks'), body) };
}

function txRows(block, from) {
  return block.transactions.slice(from, from + TX_PAGE).map((tx, i) => [
    String(from + i), route(['tx', tx.hash], shortId(tx.hash, 12)), tx.type, shortId(tx.sender, 8), String(tx.nonce), summary(tx.payload)]);
}

/** A one-line description of a payload (text; long values cut). */
export function summary(p) {
  const cut = (v) => { const t = typeof v === 'string' ? v : JSON.stringify(v); return t.length > 60 ? `${t.slice(0, 60)}…` : t; };
  switch (p?.kind) {
    case 'state:set': return `${cut(p.key)} = ${cut(p.value)}`;
    case 'state:delete': return `delete ${cut(p.key)}`;
    case 'contract:deploy': return `deploy ${cut(p.name)} v${cut(p.version)}`;
    case 'contract:invoke': return `${cut(p.contract)}.${cut(p.method)}(${cut(p.args)})`;
    case 'governance:propose': return `propose ${cut(p.title)}`;
    case 'governance:vote': return `vote ${p.vote ? 'yes' : 'no'} on ${cut(p.proposalId)}`;
    default: return cut(p);
  }
}

export async function detail([ref], query) {
  let height = /^\d+$/.test(ref) ? Number(ref) : null;
  if (height === null) {
    if (!/^[0-9a-f]{64}$/.test(ref)) throw new Error(`${ref}: not a height nor a block hash`);
    height = await heightOfHash(ref);
    if (height === null || height === undefined) throw new Error(`no block with hash ${ref} known to this tab or the serving node`);
  }
  const found = await verifiedBlock(height);
  const b = found.block;
  if (!/^\d+$/.test(ref) && b.hash !== ref) throw new Error(`the serving node pointed hash ${ref} at block ${height}, whose verified hash is ${b.hash}`);
  const txPage = Math.max(0, (Number(query.get('txs')) || 1) - 1) * TX_PAGE;
  const txCount = b.transactions.length;
  const more = txCount > TX_PAGE ? h('p', {}, `transactions ${txPage + 1}–${Math.min(txCount, txPage + TX_PAGE)} of ${txCount}; `,
    ...Array.from({ length: Math.ceil(txCount / TX_PAGE) }, (_, i) => { const a = route(['block', height], String(i + 1)); a.setAttribute('href', `${a.getAttribute('href')}?txs=${i + 1}`); return [a, ' ']; })) : null;
  const el = h('div', {},
    h('h1', { tabindex: '-1' }, `Block ${height}`),
    h('nav', { class: 'pager', 'aria-label': 'neighbours' }, height > 1 ? route(['block', height - 1], `← ${height - 1}`) : null, ' ', height < chain.node.height ? route(['block', height + 1], `${height + 1} →`) : null),
    blockBadge(found),
    h('section', { class: 'card' }, fields([
      ['Height', String(b.height)],
      ['Hash', id(b.hash)],
      ['Previous', b.height > 0 ? route(['block', b.height - 1], id(b.previousHash)) : id(b.previousHash)],
      ['Time', time(b.timestamp)],
      ['Proposer', [id(b.proposer), ' ', isTrusted(b.proposer) ? badge('ok', 'trusted validator') : badge('bad', 'not a trusted validator')]],
      ['Merkle root', id(b.merkleRoot)],
      ['State root', id(b.stateRoot)],
      ['Signature', id(b.signature)],
      ['Transactions', String(txCount)],
    ])),
    h('section', { class: 'card' }, h('h2', {}, 'Transactions'), more,
      txCount ? table(['#', 'hash', 'type', 'sender', 'nonce', 'payload'], txRows(b, txPage), { id: 'block-txs' }) : h('p', { class: 'muted' }, 'none')),
    h('details', {}, h('summary', {}, 'Raw JSON'), json({ ...b, transactions: b.transactions.slice(txPage, txPage + TX_PAGE) })));
  return { title: `Block ${height}`, el };
}
