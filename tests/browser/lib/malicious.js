// A malicious mesh peer, just enough protocol to be believed: it answers the handshake,
// advertises the honest node in PEER_LIST, answers PINGs, and serves SYNC_RESPONSEs made of
// the honest node's real blocks (read over its REST API) with one block tampered: a
// transaction's value changed after signing, hashes and signatures left as they were.
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';

export async function startMalicious({ honest, tamperAt, port }) {
  const publicKey = randomBytes(32).toString('hex');
  const nodeId = publicKey.slice(0, 16);
  const identity = await honest.get('/identity');
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise((ok) => wss.once('listening', ok));
  const served = [];
  const envelope = (type, payload) =>
    JSON.stringify({ version: 1, type, from: nodeId, timestamp: Date.now(), payload });

  async function blocks(from, to, height) {
    const out = [];
    for (let h = from; h <= Math.min(to, height); h++) {
      const block = await honest.get(`/blocks/${h}`);
      if (h === tamperAt) {
        block.transactions[0].payload.value = 'tampered by a malicious peer';
        served.push(h);
      }
      out.push(block);
    }
    return out;
  }

  wss.on('connection', (ws) => {
    ws.on('message', async (data) => {
      const { type, payload } = JSON.parse(String(data));
      const height = (await honest.status()).height;
      if (type === 'HANDSHAKE') {
        ws.send(envelope('HANDSHAKE_ACK', { nodeId, publicKey, orgId: 'evil', chainHeight: height, accepted: true }));
        const peer = { nodeId: identity.nodeId, publicKey: identity.publicKey, address: honest.p2p, orgId: identity.orgId };
        ws.send(envelope('PEER_LIST', { peers: [peer] }));
      } else if (type === 'PING') {
        ws.send(envelope('PONG', { chainHeight: height }));
      } else if (type === 'SYNC_REQUEST') {
        const list = await blocks(payload.fromHeight, payload.toHeight, height);
        ws.send(envelope('SYNC_RESPONSE', { blocks: list, hasMore: payload.toHeight < height }));
      }
    });
  });

  return {
    url: `ws://127.0.0.1:${port}`,
    nodeId,
    served,
    close: () => new Promise((ok) => { for (const c of wss.clients) c.terminate(); wss.close(ok); }),
  };
}
