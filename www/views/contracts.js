// #/contracts and #/contract/NAME. A contract is what world state says at MiniLedger 0.2's keys
// `_contract:NAME` (metadata) and `_contract_code:NAME` (source), each shown with its proof
// checked in the tab; its deploys and calls are transactions the tab finds through the serving
// node's SQL and then shows from the verified blocks holding them.
import { api, provenState, verifiedTx } from '../lib/chain.js';
import { badge, h, id, route, table, time } from '../lib/dom.js';
import { unverified, usable } from '../lib/status.js';
import { provenCard } from './state.js';

const RECENT = 20;

/** Transactions of `type` whose payload field `field` is `value` (newest first), verified one by one. */
export async function verifiedTxsWhere(type, field, value) {
  try {
    return await txsWhere(type, field, value);
  } catch (e) {
    // The serving node's SQL failed (e.g. its 2 s limit on a long chain): say so in place.
    return [{ error: `could not list them: ${e.message}`, hash: '—' }];
  }
}

async function txsWhere(type, field, value) {
  const where = field ? ` AND json_extract(b.json, '$.transactions[' || t.position || '].payload.${field}') = ?` : '';
  const answer = await api('/state/query', {
    sql: `SELECT t.hash FROM transactions t JOIN blocks b ON b.height = t.block_height WHERE t.type = ?${where} ORDER BY t.id DESC LIMIT ${RECENT}`,
    params: field ? [type, value] : [type],
  });
  const found = await Promise.all(answer.rows.map(([hash]) => verifiedTx(hash).catch((e) => ({ error: e.message, hash }))));
  // The SQL is the serving node's; keep only what the verified transactions themselves say.
  return found.filter((f) => f.error || (usable(f) && f.tx.type === type && (!field || f.tx.payload[field] === value)));
}

function txRow(f, describe) {
  if (f.error) return [id(f.hash), h('span', { class: 'bad' }, f.error), '', ''];
  return [route(['tx', f.tx.hash], `${f.tx.hash.slice(0, 12)}…`), describe(f.tx.payload), route(['block', f.block.height], String(f.block.height)), time(f.tx.timestamp)];
}

export async function list() {
  const answer = await api(`/state?${new URLSearchParams({ prefix: '_contract:', limit: '100' })}`);
  const deploys = await verifiedTxsWhere('contract:deploy');
  return {
    title: 'Contracts',
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'Contracts'),
      h('section', { class: 'card' }, h('h2', {}, 'Deployed (world state)'),
        unverified('which names exist is the serving node\'s list; each contract\'s page checks its state with proofs'),
        answer.entries.length
          ? table(['name', 'version', 'deployed by', 'deployed at'], answer.entries.map((e) => [route(['contract', e.key.slice('_contract:'.length)], h('span', { class: 'key' }, e.key.slice('_contract:'.length))), String(e.value?.version ?? ''), id(String(e.value?.deployedBy ?? '')), time(e.value?.deployedAt)]), { id: 'contract-list' })
          : h('p', { class: 'muted' }, 'No contract state on this chain (no `_contract:` keys): nodes that do not execute contracts yet keep deploys as transactions only.')),
      h('section', { class: 'card' }, h('h2', {}, 'Latest deploy transactions'),
        badge('ok', 'each from a block verified in this tab'),
        deploys.length ? table(['transaction', 'contract', 'block', 'time'], deploys.map((f) => txRow(f, (p) => route(['contract', p.name], `${p.name} v${p.version}`))), { id: 'deploy-list' }) : h('p', { class: 'muted' }, 'none'))),
  };
}

export async function detail([name]) {
  const [meta, code] = await Promise.all([provenState(`_contract:${name}`), provenState(`_contract_code:${name}`)]);
  const [deploys, calls] = await Promise.all([verifiedTxsWhere('contract:deploy', 'name', name), verifiedTxsWhere('contract:invoke', 'contract', name)]);
  const source = code.entry && code.proof.ok ? code.entry.value : deploys.find((f) => !f.error)?.tx.payload.code;
  return {
    title: `Contract ${name}`,
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'Contract ', h('span', { class: 'key' }, name)),
      h('section', { class: 'card' }, h('h2', {}, 'Source'),
        code.entry && code.proof.ok ? badge('ok', `from state, proof checked against block ${code.height}`)
          : source !== undefined ? badge('ok', 'as deployed in a transaction of a verified block (no contract state on chain)') : badge('warn', 'no source found'),
        source !== undefined ? h('pre', { class: 'source', id: 'contract-source' }, String(source)) : null),
      h('h2', {}, 'Metadata'), provenCard(`_contract:${name}`, meta, null),
      h('section', { class: 'card' }, h('h2', {}, 'Versions deployed'),
        deploys.length ? table(['transaction', 'version', 'block', 'time'], deploys.map((f) => txRow(f, (p) => `v${p.version}`))) : h('p', { class: 'muted' }, 'none found')),
      h('section', { class: 'card' }, h('h2', {}, 'Recent calls'),
        calls.length ? table(['transaction', 'call', 'block', 'time'], calls.map((f) => txRow(f, (p) => `${p.method}(${JSON.stringify(p.args)})`))) : h('p', { class: 'muted' }, 'none found'))),
  };
}
