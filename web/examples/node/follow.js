// Follows a MiniLedger chain from Node.js and prints every block the light node verified.
//   node follow.js http://127.0.0.1:3000 [--genesis-hash H]   (genesis and P2P address from that
//                  node; the validator set is then followed through governance by the light node)
//   node follow.js ws://127.0.0.1:9000 --validators k1,k2 [--count N]   (a fixed trust root)
// With --count N it exits after N verified blocks (used by tests/browser/node_example.test.js).
import { LightNode } from 'miniledger-web';

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const count = Number(option('--count') ?? Infinity);
let validators = option('--validators')?.split(',');
const genesisHash = option('--genesis-hash');
let genesis;
const [target] = args;
if (!target) {
  console.error('usage: node follow.js <http://api-host:port | ws://p2p-host:port> [--validators k1,k2] [--count N]');
  process.exit(2);
}

let peers = [target];
if (/^https?:/.test(target)) {
  // Ask the node for whom to trust and where its P2P port is (trust on first use, as the page does).
  const get = async (path) => (await fetch(new URL(path, target))).json();
  const [status, consensus, served] = await Promise.all([get('/status'), get('/consensus'), get('/genesis')]);
  if (!validators && served.genesis) {
    // Ours: the genesis is the trust root (checked against --genesis-hash by the light node).
    genesis = JSON.stringify(served.genesis);
    console.error(`trusting the network whose genesis hash is ${genesisHash ?? `${served.hash} (trusted on first use)`}`);
  } else {
    validators ??= consensus.validators;
  }
  peers = [`${target.startsWith('https:') ? 'wss' : 'ws'}://${new URL(target).hostname}:${status.p2pPort}`];
}
if (!genesis && !validators?.length) {
  console.error('no validators: give --validators or an http:// API address');
  process.exit(2);
}

const node = await LightNode.connect(peers, genesis ? { genesis, genesisHash } : { validators });
let seen = 0;
node.on('block', async (b) => {
  if (seen >= count) return; // closing
  if (!b.verified) {
    console.log(`${b.height} REJECTED ${b.hash} from ${b.peer}: ${b.reason}`);
    return;
  }
  console.log(`${b.height} verified ${b.hash} txs=${b.txCount} proposer=${b.proposer.slice(0, 16)} ${b.verifyMs.toFixed(1)}ms`);
  if (++seen >= count) {
    await node.close();
    process.exit(0);
  }
});
node.on('error', (e) => console.error(`warning: ${e.message}`));
