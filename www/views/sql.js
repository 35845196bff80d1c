// #/sql/QUERY — a read-only SQL console over the serving node's tables. Nothing here is
// verified: the answer is the serving node's word, and the page says so.
import { api } from '../lib/chain.js';
import { h, table } from '../lib/dom.js';
import { unverified } from '../lib/status.js';

const SHOWN = 200;

export async function render([sql = '']) {
  const area = h('textarea', { id: 'sql', name: 'sql', rows: '4', spellcheck: 'false' });
  area.value = sql || 'SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 10';
  const form = h('form', { class: 'sql' }, h('label', { for: 'sql' }, 'SQL (one read-only statement over blocks, transactions, world_state, nonces)'), area, h('button', { type: 'submit' }, 'Run'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/sql/${encodeURIComponent(area.value)}`;
  });
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  let result = h('p', { class: 'muted' }, 'Ctrl+Enter runs the query.');
  if (sql) {
    try {
      const answer = await api('/state/query', { sql });
      const rows = answer.rows.slice(0, SHOWN).map((r) => r.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))));
      result = h('div', {},
        h('p', {}, `${answer.count} rows${answer.truncated ? ' (more matched; the node returns at most 1000)' : ''}${answer.count > SHOWN ? `, first ${SHOWN} shown` : ''}`),
        table(answer.columns, rows, { id: 'sql-result' }));
    } catch (e) {
      result = h('p', { class: 'bad', role: 'alert' }, e.message);
    }
  }
  return {
    title: 'SQL',
    el: h('div', {}, h('h1', { tabindex: '-1' }, 'SQL console'), unverified('answered by the serving node, not verified'), form, result),
  };
}
