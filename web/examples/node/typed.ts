// The package's types, checked by `tsc --noEmit` (npm run typecheck): a typed follower that also
// checks a state proof against a verified block.
import { LightNode, type BlockEvent, type ProofCheck } from 'miniledger-web';

export async function follow(p2p: string, api: string, validators: string[]): Promise<void> {
  const node: LightNode = await LightNode.connect([p2p], { validators, maxPeers: 2 });
  node.on('block', (b: BlockEvent) => {
    console.log(b.height, b.verified ? 'verified' : `rejected (${b.rule}): ${b.reason}`);
  });
  const answer = await (await fetch(`${api}/state/greeting?proof=true`)).json();
  const block = await node.getBlock(answer.proof.height);
  if (block) {
    const checked: ProofCheck = await node.checkStateProof(block.stateRoot, 'greeting',
      answer.exists ? { value: answer.value, version: answer.version } : null, answer.proof.proof);
    console.log(checked.ok ? 'proof checked' : `proof refused: ${checked.reason}`);
  }
  const sent = await node.submit({ key: 'greeting', value: 'hello' });
  const { height } = await sent.committed;
  console.log(`committed at ${height}; tip ${node.tip.hash}, peers ${node.peers.length}`);
  await node.close();
}
