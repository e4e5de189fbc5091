'use strict';
// The traffic page: requests over time by status class (SVG, no library), top domains/paths.
(() => {
  const { api, el, showError, hide } = PH;
  const $ = (id) => document.getElementById(id);
  const CLASSES = ['2xx', '3xx', '4xx', '5xx', 'other'];
  const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
  const SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, ...children) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }

  function chart(stats) {
    const W = 900; const H = 260; const left = 48; const bottom = 24;
    const buckets = stats.buckets;
    const total = (b) => CLASSES.reduce((s, c) => s + (b[c] || 0), 0);
    const max = Math.max(1, ...buckets.map(total));
    const bw = (W - left) / Math.max(1, buckets.length);
    const root = svg('svg', {
      viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'bars',
      'aria-label': `${stats.total} requests in ${buckets.length} ${stats.bucket} buckets; busiest bucket ${max}`,
    });
    root.append(svg('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
    root.append(svg('text', { x: left - 6, y: 12, 'text-anchor': 'end', class: 'tick' }, max));
    root.append(svg('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end', class: 'tick' }, 0));
    buckets.forEach((b, i) => {
      let y = H - bottom;
      const g = svg('g', { class: 'bucket' });
      g.append(svg('title', {}, `${b.t}: ${CLASSES.map((c) => `${c} ${b[c] || 0}`).join(', ')}`));
      for (const c of CLASSES) {
        const h = ((b[c] || 0) / max) * (H - bottom - 8);
        if (h <= 0) continue;
        y -= h;
        g.append(svg('rect', { x: left + i * bw + 1, y, width: Math.max(1, bw - 2), height: h, class: `c${c}` }));
      }
      root.append(g);
    });
    const first = buckets[0]; const last = buckets[buckets.length - 1];
    if (first) root.append(svg('text', { x: left, y: H - 6, class: 'tick' }, first.t.replace('T', ' ').slice(0, 16)));
    if (last) root.append(svg('text', { x: W, y: H - 6, 'text-anchor': 'end', class: 'tick' }, last.t.replace('T', ' ').slice(0, 16)));
    return root;
  }

  function legend(stats) {
    const sums = Object.fromEntries(CLASSES.map((c) => [c, stats.buckets.reduce((s, b) => s + (b[c] || 0), 0)]));
    return CLASSES.map((c) => el('li', {}, el('span', { class: `swatch c${c}`, 'aria-hidden': 'true' }), `${c}: ${sums[c]}`));
  }

  function topRows(items, key) {
    if (!items.length) return [el('tr', {}, el('td', { colspan: 2, class: 'muted' }, 'No requests in this period.'))];
    return items.map((it) => el('tr', {}, el('td', { class: key === 'path' ? 'code path' : 'domain' }, it[key]), el('td', {}, String(it.count))));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    const params = new URLSearchParams(location.search);
    const range = RANGES[params.get('range')] ? params.get('range') : '1h';
    const domain = params.get('domain') || '';
    $('t-range').value = range;
    $('t-domain').value = domain;
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[range]);
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    if (domain) q.set('domain', domain);
    try {
      const stats = await api('GET', `/api/logs/stats?${q}`);
      hide($('page-error'));
      $('chart').replaceChildren(chart(stats));
      $('legend').replaceChildren(...legend(stats));
      $('top-domains').tBodies[0].replaceChildren(...topRows(stats.topDomains, 'domain'));
      $('top-paths').tBodies[0].replaceChildren(...topRows(stats.topPaths, 'path'));
    } catch (e) {
      showError($('page-error'), e);
    }
  });
})();
