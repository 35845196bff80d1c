// How the page says what it verified: one wording per case, used by every view.
import { badge } from './dom.js';

/** The verdict on a block from `verifiedBlock`. */
export function blockBadge(found) {
  const { how, check } = found;
  if (how === 'synced') return badge('ok', 'verified in this tab while syncing (signatures, hashes, proposer, link to its parent)');
  if (!check.ok) return badge('bad', `refused by this tab: ${check.reason}`);
  const what = 'verified in this tab: every signature, hash and the Merkle root, proposer in the trusted set';
  switch (check.chain) {
    case 'same': return badge('ok', `${what}; the block this tab synced at this height`);
    case 'different': return badge('bad', `signed by a trusted validator but NOT the block this tab verified at this height`);
    case 'ahead': return badge('ok', `${what}; beyond this tab's verified tip (not linked yet)`);
    default: return badge('ok', `${what}; older than the tab's recent window, so its link to the tip was not re-checked`);
  }
}

/** A verdict that makes the data usable (not refused). */
export function usable(found) {
  return found.how === 'synced' || (found.check.ok && found.check.chain !== 'different');
}

export const unverified = (what = 'answered by the serving node, not verified') => badge('warn', what);
