// Building the page from data written by strangers: everything goes in as text nodes or
// attribute values set one by one, never as markup (no innerHTML anywhere on the page), and
// links are only ever the page's own `#/…` routes.

const SVG = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function apply(el, props) {
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.setAttribute('class', value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'href') throw new Error('use route() for links');
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  return el;
}

/** An HTML element with attributes and text/element children. */
export function h(tag, props, ...children) {
  return append(apply(document.createElement(tag), props), children);
}

/** An SVG element. */
export function s(tag, props, ...children) {
  return append(apply(document.createElementNS(SVG, tag), props), children);
}

/** A link to one of the page's routes: `route('block', 5)` → `#/block/5`. */
export function route(parts, text, props = {}) {
  const path = (Array.isArray(parts) ? parts : [parts]).map((p) => encodeURIComponent(String(p))).join('/');
  const a = h('a', props, text);
  a.setAttribute('href', `#/${path}`);
  return a;
}

/** An identifier shown whole, in one unbreakable token (scrolls rather than wraps). */
export function id(text, props = {}) {
  return h('span', { class: 'id', title: text, ...props }, text ?? '—');
}

/** The first and last characters of a long identifier, the whole one in the tooltip. */
export function shortId(text, n = 10) {
  if (!text) return h('span', { class: 'id' }, '—');
  const shown = text.length > n + 6 ? `${text.slice(0, n)}…${text.slice(-4)}` : text;
  return h('span', { class: 'id', title: text }, shown);
}

/** What the tab did with a piece of data: 'ok' verified, 'warn' unverified, 'bad' refused. */
export function badge(kind, text) {
  const mark = { ok: '✓', warn: '⚠', bad: '✗' }[kind];
  return h('span', { class: `badge ${kind}`, role: 'status' }, `${mark} ${text}`);
}

/** A <dl> of [label, value] pairs. */
export function fields(pairs) {
  return h('dl', { class: 'grid' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A table with a header row; `rows` are arrays of cells (text or nodes), {cells, props}, or {full, props} (one cell across). */
export function table(headers, rows, props = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', props,
      h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r) => {
        if (Array.isArray(r)) return h('tr', {}, r.map((c) => h('td', {}, c)));
        // A row spanning the table (details opened under the row above it).
        if (r.full) return h('tr', r.props, h('td', { colspan: String(headers.length) }, r.full));
        return h('tr', r.props, r.cells.map((c) => h('td', {}, c)));
      }))));
}

/** JSON, pretty-printed, as text. */
export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

export function time(ms) {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '—';
}
