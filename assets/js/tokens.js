'use strict';
// API tokens: create (the secret shown once, with a copy button), list, revoke.
(() => {
  const { api, el, showError, hide } = PH;
  const $ = (id) => document.getElementById(id);
  const when = (t) => (t ? new Date(t).toLocaleString() : '—');

  function row(t) {
    return el('tr', { dataset: { name: t.name } },
      el('td', {}, t.name),
      el('td', {}, t.userName),
      el('td', {}, t.scopes.map((s) => el('code', { class: 'scope' }, s))),
      el('td', {}, when(t.createdAt)),
      el('td', {}, t.expiresAt ? when(t.expiresAt) : 'never'),
      el('td', {}, when(t.lastUsedAt)),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'danger', onclick: () => revoke(t) }, `Revoke ${t.name}`)));
  }

  async function revoke(t) {
    $('confirm-token-name').textContent = t.name;
    if (!await PH.confirmWith($('confirm-revoke'), 'revoke')) return;
    try {
      await api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`);
      hide($('page-error'));
    } catch (e) {
      showError($('page-error'), e);
    }
    await load();
  }

  async function load() {
    try {
      const tokens = await api('GET', '/api/tokens');
      PH.replaceRows($('tokens-table').tBodies[0], tokens.map(row));
      $('no-tokens').hidden = tokens.length > 0;
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('token-error'));
      const f = new FormData(ev.target);
      const days = String(f.get('expiresInDays') || '').trim();
      const body = { name: f.get('name'), scopes: f.getAll('scopes') };
      if (days) body.expiresInDays = Number(days);
      try {
        const created = await api('POST', '/api/tokens', body);
        ev.target.reset();
        $('secret').value = created.token;
        $('copy-status').textContent = '';
        $('new-secret').hidden = false;
        $('secret').focus();
        $('secret').select();
        await load();
      } catch (e) {
        showError($('token-error'), e);
      }
    });
    $('copy-secret').addEventListener('click', async () => {
      const secret = $('secret');
      try {
        await navigator.clipboard.writeText(secret.value);
        $('copy-status').textContent = 'Copied.';
      } catch {
        secret.focus();
        secret.select();
        $('copy-status').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
      }
    });
    load();
  });
})();
