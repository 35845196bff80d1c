// #/tx/HASH — a transaction as the verified block holding it has it.
import { verifiedTx } from '../lib/chain.js';
import { fields, h, id, json, route, time } from '../lib/dom.js';
import { blockBadge, unverified, usable } from '../lib/status.js';

export async function render([hash]) {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`${hash}: a transaction hash is 64 lowercase hex characters`);
  const found = await verifiedTx(hash);
  if (found.pending) {
    return { title: 'Transaction', el: h('div', {}, h('h1', { tabindex: '-1' }, 'Transaction'), id(hash),
      unverified('pending: the serving node holds it in its mempool; no verified block has it yet')) };
  }
  const { tx, index, block } = found;
  const el = h('div', {},
    h('h1', { tabindex: '-1' }, 'Transaction'),
    blockBadge(found),
    usable(found) ? h('p', { class: 'muted' }, `Its hash and signature were checked with the block, and the block's Merkle root commits to it.`) : null,
    h('section', { class: 'card' }, fields([
      ['Hash', id(tx.hash)],
      ['Type', tx.type],
      ['Sender', route(['search', tx.sender], id(tx.sender))],
      ['Nonce', String(tx.nonce)],
      ['Time', time(tx.timestamp)],
      ['Signature', id(tx.signature)],
      ['Block', [route(['block', block.height], String(block.height)), ` (position ${index} of ${block.transactions.length})`]],
      ['Receipt', `committed in block ${block.height}; blocks carry no execution results, so effects are shown through state proofs`],
    ])),
    h('section', { class: 'card' }, h('h2', {}, 'Payload'), json(tx.payload)));
  return { title: 'Transaction', el };
}
