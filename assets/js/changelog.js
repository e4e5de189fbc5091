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

  // What reverting an entry does, in words.
  const UNDO = {
    create: (d) => `Delete ${d} again.`,
    delete: (d) => `Bring ${d} back with every field it had.`,
    update: (d) => `Give ${d} back the old values of the fields this change set.`,
    toggle: (d) => `Turn ${d} back the other way.`,
  };
  const mayChange = ['editor', 'admin'].includes(document.body.dataset.role);

  async function revert(e, button) {
    $('confirm-revert-what').textContent = (UNDO[e.action] || (() => ''))(e.domain);
    if (!await PH.confirmWith($('confirm-revert'), 'revert')) return;
    button.disabled = true;
    try {
      await api('POST', `/api/changelog/${e.id}/revert`);
      location.reload();
    } catch (err) {
      showError($('page-error'), err);
      button.disabled = false;
    }
  }

  function entry(e) {
    const via = [
      e.tokenName ? ` with token ${e.tokenName}` : '',
      e.importId ? ' (import)' : '',
      e.revertOf ? ` reverting change ${e.revertOf}` : '',
    ].join('');
    const button = mayChange
      ? el('button', { type: 'button', class: 'secondary revert', dataset: { entry: String(e.id) } }, `Revert ${e.action} of ${e.domain}`)
      : null;
    if (button) button.addEventListener('click', () => revert(e, button));
    return el('li', { class: `entry action-${e.action}`, dataset: { id: String(e.id) } },
      el('div', { class: 'entry-head' },
        el('span', { class: `badge action-${e.action}` }, e.action),
        el('strong', { class: 'domain' }, e.domain),
        el('span', { class: 'muted' }, ` by ${e.userName}${via} at `, el('time', { datetime: e.createdAt }, formatTime(e.createdAt))),
        button),
      e.diff ? diffTable(e.diff) : null);
  }

  // Pages of 100, newest first; "Older changes" appends the next page.
  const PAGE = 100;

  document.addEventListener('DOMContentLoaded', () => {
    const params = new URLSearchParams(location.search);
    const domain = params.get('domain') || '';
    $('c-domain').value = domain;
    let before = null;
    async function load() {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (domain) q.set('domain', domain);
      if (before !== null) q.set('before', String(before));
      $('older').disabled = true;
      try {
        const entries = await api('GET', `/api/changelog?${q}`);
        $('changelog').append(...entries.map(entry));
        if (entries.length) before = entries[entries.length - 1].id;
        $('changelog-empty').hidden = $('changelog').children.length > 0;
        $('older').hidden = entries.length < PAGE;
      } catch (e) {
        showError($('page-error'), e);
      } finally {
        $('older').disabled = false;
      }
    }
    $('older').addEventListener('click', load);
    load();
  });
})();
