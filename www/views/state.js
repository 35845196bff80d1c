// #/state (the serving node's list of keys, unverified) and #/state/KEY (the value with its
// proof checked in the tab against a verified block's stateRoot).
import { api, provenState, writerOf } from '../lib/chain.js';
import { badge, fields, h, id, json, route, shortId, table, time } from '../lib/dom.js';
import { unverified } from '../lib/status.js';

const PAGE = 25;

export async function list(_args, query) {
  const prefix = query.get('prefix') ?? '';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const q = new URLSearchParams({ limit: String(PAGE), offset: String((page - 1) * PAGE) });
  if (prefix) q.set('prefix', prefix);
  const answer = await api(`/state?${q}`);
  const input = h('input', { id: 'state-prefix', name: 'prefix', value: prefix, autocomplete: 'off' });
  const form = h('form', { class: 'inline', role: 'search' }, h('label', { for: 'state-prefix' }, 'Key prefix'), input, h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/state?${new URLSearchParams({ prefix: input.value })}`;
  });
  const nav = (p, text) => {
    const a = route('state', text);
    a.setAttribute('href', `#/state?${new URLSearchParams({ prefix, page: String(p) })}`);
    return a;
  };
  const rows = answer.entries.map((e) => [route(['state', e.key], h('span', { class: 'key' }, e.key)), h('span', { class: 'value' }, preview(e.value)), String(e.version), route(['block', e.blockHeight], String(e.blockHeight)), shortId(e.updatedBy, 8)]);
  return {
    title: 'State',
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'State'),
      unverified('this list is answered by the serving node, not verified: open a key to check its value with a proof'),
      form,
      table(['key', 'value', 'version', 'block', 'updated by'], rows, { id: 'state-list' }),
      h('nav', { class: 'pager', 'aria-label': 'pages' }, page > 1 ? nav(page - 1, '← previous') : null, ` page ${page} `, answer.entries.length === PAGE ? nav(page + 1, 'next →') : null)),
  };
}

function preview(value) {
  const t = JSON.stringify(value);
  return t.length > 80 ? `${t.slice(0, 80)}…` : t;
}

/** The proven entry's card (also used by the contract view). */
export function provenCard(key, proven, writer) {
  const { entry, height, proof, block } = proven;
  const verdict = proof.ok
    ? badge('ok', `proof checked in this tab against the stateRoot of verified block ${height}${entry ? '' : ': the key does not exist'}`)
    : badge('bad', `proof refused: ${proof.reason}`);
  return h('section', { class: 'card proof', 'data-proof': proof.ok ? 'ok' : 'refused' },
    verdict,
    fields([
      ['Key', id(key)],
      entry && [proof.ok ? 'Value' : 'Value claimed (not proven)', json(entry.value)],
      entry && [proof.ok ? 'Version' : 'Version claimed', String(entry.version)],
      entry && ['Last written in', [route(['block', proven.answer.blockHeight], String(proven.answer.blockHeight)), ' ', time(proven.answer.updatedAt)]],
      entry && ['Written by', writer
        ? [route(['search', writer.sender], id(writer.sender)), ' ', badge('ok', 'sender of a transaction in that verified block'), ' ', route(['tx', writer.tx.hash], 'transaction')]
        : [id(proven.answer.updatedBy ?? '—'), ' ', unverified('the serving node says so (no transaction in the block names this key)')]],
      ['Proven at', [route(['block', height], `block ${height}`), ' stateRoot ', id(block.stateRoot)]],
    ]));
}

export async function detail([key]) {
  const proven = await provenState(key);
  const writer = proven.entry && proven.proof.ok ? await writerOf(key, proven.answer.blockHeight).catch(() => null) : null;
  return { title: `State ${key}`, el: h('div', {}, h('h1', { tabindex: '-1' }, 'State entry'), provenCard(key, proven, writer)) };
}
