'use strict';
// The audit trail, with update diffs as old vs new.
(() => {
  const { api, el, showError, formatTime } = PH;
  const $ = (id) => document.getElementById(id);

  function show(value) {
    if (value === null || value === undefined) return el('span', { class: 'muted' }, '(none)');
    if (typeof value === 'string' && value.includes('\n')) return el('pre', { class: 'code' }, value);
    return el('code', {}, String(value));
  }

  function diffTable(diff) {
    let parsed;
    try { parsed = JSON.parse(diff); } catch { return el('pre', {}, diff); }
    const fields = Object.keys(parsed.new || {});
    return el('table', { class: 'diff' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Field'), el('th', { scope: 'col' }, 'Old'), el('th', { scope: 'col' }, 'New'))),
      el('tbody', {}, fields.map((f) => el('tr', { class: 'changed' },
        el('th', { scope: 'row' }, el('mark', {}, f), el('span', { class: 'visually-hidden' }, ' (changed)')),
        el('td', { class: 'old' }, show(parsed.old[f])),
        el('td', { class: 'new' }, show(parsed.new[f]))))));
  }

  function entry(e) {
    return el('li', { class: `entry action-${e.action}` },
      el('div', { class: 'entry-head' },
        el('span', { class: `badge action-${e.action}` }, e.action),
        el('strong', { class: 'domain' }, e.domain),
        el('span', { class: 'muted' }, ` by ${e.userName} at `, el('time', { datetime: e.createdAt }, formatTime(e.createdAt)))),
      e.diff ? diffTable(e.diff) : null);
  }

  document.addEventListener('DOMContentLoaded', async () => {
    const params = new URLSearchParams(location.search);
    const domain = params.get('domain') || '';
    $('c-domain').value = domain;
    try {
      const q = domain ? `?domain=${encodeURIComponent(domain)}` : '';
      const entries = await api('GET', `/api/changelog${q}`);
      $('changelog').replaceChildren(...entries.map(entry));
      $('changelog-empty').hidden = entries.length > 0;
    } catch (e) {
      showError($('page-error'), e);
    }
  });
})();
