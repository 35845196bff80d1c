// #/governance — proposals and votes as transactions in verified blocks, proposal state and
// outcomes (the `_gov:proposal:ID` keys), and the validator set in force as this tab follows it.
import { api, chain } from '../lib/chain.js';
import { badge, h, id, route, table, time } from '../lib/dom.js';
import { unverified } from '../lib/status.js';
import { verifiedTxsWhere } from './contracts.js';

export async function render(_args, _query, ctx) {
  const [proposals, votes, stored, genesis] = await Promise.all([
    verifiedTxsWhere('governance:propose'),
    verifiedTxsWhere('governance:vote'),
    api(`/state?${new URLSearchParams({ prefix: '_gov:proposal:', limit: '100' })}`).catch(() => ({ entries: [] })),
    api('/genesis').catch(() => null),
  ]);
  const trusted = new Set(chain.node.validators);
  const genesisSet = genesis?.genesis?.validators ?? [];
  const same = genesisSet.length === trusted.size && genesisSet.every((k) => trusted.has(k));
  const row = (f, cells) => (f.error ? [id(f.hash), h('span', { class: 'bad' }, f.error), '', '', ''] : cells(f));
  return {
    title: 'Governance',
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'Governance'),
      h('section', { class: 'card' }, h('h2', {}, 'Validator set'),
        badge('ok', 'the set this tab verifies every block against'),
        h('p', { class: 'muted' }, ctx.trust.source),
        h('ul', { class: 'hashes', id: 'gov-validators' }, chain.node.validators.map((k) => h('li', {}, id(k)))),
        h('h3', {}, 'History'),
        genesis
          ? h('p', { id: 'gov-genesis' }, `Genesis (network "${genesis.genesis.chainName}", hash `, id(genesis.hash), `): ${genesisSet.length} validator(s), `,
            same ? badge('ok', 'the same set this tab trusts') : badge('bad', 'NOT the set this tab trusts'), ' ', unverified('the genesis document is the serving node\'s answer'))
          : h('p', { class: 'muted' }, 'The serving node has no genesis document (compat mode).'),
        h('p', { id: 'gov-history' }, genesis
          ? 'Validator-set changes are on chain: an approved add-peer or remove-peer proposal changes the set from the next block on, and this tab follows each change itself (it executes the governance transactions of every block it verifies, from the genesis set on). The list above is the set in force at the tab\'s tip.'
          : 'A MiniLedger 0.2 network: proposals are recorded as transactions only; the set is fixed.')),
      h('section', { class: 'card' }, h('h2', {}, 'Proposals (latest 20)'),
        badge('ok', 'each from a block verified in this tab'),
        proposals.length ? table(['transaction', 'title', 'proposer', 'block', 'time'], proposals.map((f) => row(f, (x) => [route(['tx', x.tx.hash], `${x.tx.hash.slice(0, 12)}…`), h('span', { class: 'title' }, String(x.tx.payload.title)), id(x.tx.sender), route(['block', x.block.height], String(x.block.height)), time(x.tx.timestamp)])), { id: 'proposals' }) : h('p', { class: 'muted' }, 'none')),
      h('section', { class: 'card' }, h('h2', {}, 'Votes (latest 20)'),
        votes.length ? table(['transaction', 'proposal', 'vote', 'voter', 'block'], votes.map((f) => row(f, (x) => [route(['tx', x.tx.hash], `${x.tx.hash.slice(0, 12)}…`), id(String(x.tx.payload.proposalId)), x.tx.payload.vote ? 'yes' : 'no', id(x.tx.sender), route(['block', x.block.height], String(x.block.height))])), { id: 'votes' }) : h('p', { class: 'muted' }, 'none')),
      h('section', { class: 'card' }, h('h2', {}, 'Proposal state and outcomes'),
        stored.entries.length ? [unverified('listed by the serving node; open one to check its proof'),
          table(['key', 'status'], stored.entries.map((e) => [route(['state', e.key], h('span', { class: 'key' }, e.key)), String(e.value?.status ?? '')]))]
          : h('p', { class: 'muted' }, 'No proposal state (`_gov:proposal:` keys) yet.'))),
  };
}
