import { LightNode } from 'miniledger-web';

// ?peer=ws://127.0.0.1:9000&validator=<public key hex>
const params = new URLSearchParams(location.search);
const node = await LightNode.connect(params.getAll('peer'), {
  validators: params.getAll('validator'),
});

node
  .on('sync', ({ height, target }) => {
    document.getElementById('height').textContent = height;
    document.getElementById('target').textContent = target;
  })
  .on('block', (block) => {
    const li = document.createElement('li');
    li.textContent = `${block.height} ${block.hash.slice(0, 16)}… ${block.verified ? 'verified' : `REJECTED (${block.reason})`}`;
    document.getElementById('blocks').prepend(li);
  });
