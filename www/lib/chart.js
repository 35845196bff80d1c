// Small bar charts in plain SVG (no library: a few dozen bars, redrawn at most once a second).
import { h, s } from './dom.js';

/**
 * A bar chart of `values` (newest last) titled `title`, with the unit in the label; the last
 * value and the maximum are written under it, so the figure is readable without the bars.
 */
export function bars(title, values, unit) {
  const W = 300;
  const H = 60;
  const max = Math.max(1e-9, ...values);
  const w = values.length ? W / values.length : W;
  const last = values.length ? values[values.length - 1] : null;
  const fmt = (v) => (v >= 100 ? Math.round(v) : Number(v.toFixed(1)));
  const label = `${title}: last ${last === null ? '—' : fmt(last)} ${unit}, max ${values.length ? fmt(max) : '—'} ${unit} over ${values.length} blocks`;
  return h('figure', { class: 'chart' },
    s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'none' },
      values.map((v, i) => {
        const bh = Math.max(1, (v / max) * (H - 2));
        return s('rect', { x: (i * w).toFixed(2), y: (H - bh).toFixed(2), width: Math.max(1, w - 1).toFixed(2), height: bh.toFixed(2) });
      })),
    h('figcaption', {}, label));
}
