// What the page knows about the chain, and how it knows it. Blocks come from the light node
// (verified while syncing; its recent window) or, for older ones, from the serving node's REST
// API and are then verified in the tab (`checkBlock`: every rule but linkage, which is reported
// separately). Transactions are shown only from a verified block that holds them; state entries
// only with a proof checked against a verified block's stateRoot. Lists the tab cannot check
// (which keys exist, SQL answers) are labelled as the serving node's.

/** Block events kept for the overview, the blocks list and hash lookups: bounded. */
const RING = 2000;
/** Blocks fetched over REST and verified, kept for revisits: bounded. */
const CACHE = 32;

export const chain = {
  node: null,
  /** Verified block events (height order, newest last), at most RING. */
  recent: [],
  byHeight: new Map(),
  byHash: new Map(),
  /** The last rejected block events, newest last. */
  rejected: [],
};

const fetched = new Map(); // height → Promise<{block, check}>

export class ApiError extends Error {
  constructor(path, status, message) {
    super(`${path}: ${message} (HTTP ${status})`);
    this.status = status;
  }
}

export async function api(path, body) {
  const init = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let data;
  try {
    data = await response.json();
  } catch {
    throw new ApiError(path, response.status, 'the answer is not JSON');
  }
  if (!response.ok) throw new ApiError(path, response.status, data?.error ?? 'error');
  return data;
}

/** Records a block event of the light node (verified or rejected). */
export function record(event) {
  if (!event.verified) {
    chain.rejected.push(event);
    if (chain.rejected.length > 50) chain.rejected.shift();
    return;
  }
  chain.recent.push(event);
  chain.byHeight.set(event.height, event);
  chain.byHash.set(event.hash, event.height);
  while (chain.recent.length > RING) {
    const old = chain.recent.shift();
    chain.byHeight.delete(old.height);
    chain.byHash.delete(old.hash);
  }
}

/**
 * The block at `height` and how the tab knows it: `{block, how: 'synced'}` from the light
 * node's verified window, or `{block, how: 'checked', check}` fetched over REST and verified
 * here (`check.ok`, `check.chain`). Throws when the serving node has no such block.
 */
export async function verifiedBlock(height) {
  const held = await chain.node.getBlock(height);
  if (held) return { block: held, how: 'synced', check: { ok: true, chain: 'same' } };
  let pending = fetched.get(height);
  if (!pending) {
    pending = (async () => {
      const block = await api(`/blocks/${height}`);
      const check = await chain.node.checkBlock(block);
      return { block, how: 'checked', check };
    })();
    fetched.set(height, pending);
    pending.catch(() => fetched.delete(height));
    if (fetched.size > CACHE) fetched.delete(fetched.keys().next().value);
  }
  return pending;
}

/** The height of the block with this hash: the tab's own record, else the serving node's search (then verified by the caller). */
export async function heightOfHash(hash) {
  if (chain.byHash.has(hash)) return chain.byHash.get(hash);
  const found = await api(`/search?q=${encodeURIComponent(hash)}`).catch(() => null);
  return found?.type === 'block' ? found.height ?? found.result?.height : null;
}

/**
 * A transaction from the verified block that holds it: `{tx, index, block, how, check}`, or
 * `{pending: true}` when the serving node reports it waiting in its mempool (unverifiable).
 */
export async function verifiedTx(hash) {
  const info = await api(`/tx/${encodeURIComponent(hash)}`);
  if (info.blockHeight === undefined || info.blockHeight === null) return { pending: true, info };
  const found = await verifiedBlock(info.blockHeight);
  const index = found.block.transactions.findIndex((t) => t.hash === hash);
  if (index < 0) throw new Error(`the serving node says block ${info.blockHeight} holds ${hash}, but the block does not`);
  return { ...found, tx: found.block.transactions[index], index };
}

/**
 * One state key with its proof checked against a verified block's stateRoot:
 * `{entry|null, height, block, blockCheck, proof: {ok, reason}}`. The value shown is the one the
 * proof binds; the serving node's `stateRoot` is compared with the verified block's, not used.
 */
export async function provenState(key) {
  const answer = await api(`/state/${encodeURIComponent(key)}?proof=true`);
  const { height, stateRoot, proof } = answer.proof;
  const found = await verifiedBlock(height);
  const entry = answer.exists ? { value: answer.value, version: answer.version } : null;
  let result;
  if (!found.check.ok) result = { ok: false, reason: `block ${height} failed verification: ${found.check.reason}` };
  else if (found.block.stateRoot !== stateRoot) result = { ok: false, reason: `the proof is for stateRoot ${stateRoot}, block ${height} has ${found.block.stateRoot}` };
  else result = await chain.node.checkStateProof(found.block.stateRoot, key, entry, proof);
  return { answer, entry, height, ...found, proof: result };
}

/**
 * Who wrote `key` last: the sender of the last transaction setting or deleting it in the
 * verified block `height` (`{sender, tx}`), or null when no transaction there names the key
 * (a contract or governance effect: the serving node's `updatedBy` is then all there is).
 */
export async function writerOf(key, height) {
  const found = await verifiedBlock(height);
  if (!found.check.ok) return null;
  const tx = found.block.transactions.findLast((t) => t.payload?.key === key);
  return tx ? { sender: tx.sender, tx, ...found } : null;
}

/** The trusted validator set, and whether `key` is in it. */
export function isTrusted(key) {
  return chain.node?.validators.includes(key) ?? false;
}
