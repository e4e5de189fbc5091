'use strict';
// Webhooks (admins): add (the secret shown once), send a test ping, see deliveries, delete.
(() => {
  const { api, el, showError, hide } = PH;
  const $ = (id) => document.getElementById(id);
  const when = (t) => (t ? new Date(t).toLocaleString() : '—');

  function row(h) {
    const state = h.failingAttempts > 0 ? `retrying (${h.failingAttempts} failed)` : 'up to date';
    return el('tr', { dataset: { url: h.url } },
      el('td', {}, el('code', {}, h.url)),
      el('td', {}, h.events.map((e) => el('code', { class: 'scope' }, e))),
      el('td', {}, state),
      el('td', {}, when(h.createdAt)),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary', onclick: () => test(h) }, `Test ${h.url}`),
        el('button', { type: 'button', class: 'secondary', onclick: () => deliveries(h) }, `Deliveries of ${h.url}`),
        el('button', { type: 'button', class: 'danger', onclick: () => remove(h) }, `Delete ${h.url}`)));
  }

  async function test(h) {
    $('hook-status').textContent = `Sending a ping to ${h.url}…`;
    try {
      const t = await api('POST', `/api/webhooks/${encodeURIComponent(h.id)}/test`, {});
      $('hook-status').textContent = t.delivered
        ? `Ping delivered to ${h.url}: ${t.statusCode} in ${t.durationMs} ms.`
        : `Ping not delivered to ${h.url}: ${t.error}`;
    } catch (e) {
      $('hook-status').textContent = '';
      showError($('page-error'), e);
    }
  }

  async function deliveries(h) {
    $('deliveries-url').textContent = h.url;
    try {
      const list = await api('GET', `/api/webhooks/${encodeURIComponent(h.id)}/deliveries`);
      PH.replaceRows($('deliveries-table').tBodies[0], list.map((d) => el('tr', {},
        el('td', {}, when(d.createdAt)),
        el('td', {}, el('code', {}, d.event)),
        el('td', {}, String(d.attempt)),
        el('td', {}, d.statusCode == null ? '—' : String(d.statusCode)),
        el('td', {}, `${d.durationMs} ms`),
        el('td', {}, d.error || ''))));
      $('no-deliveries').hidden = list.length > 0;
      $('deliveries').showModal();
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  async function remove(h) {
    $('confirm-hook-url').textContent = h.url;
    if (!await PH.confirmWith($('confirm-delete'), 'delete')) return;
    try {
      await api('DELETE', `/api/webhooks/${encodeURIComponent(h.id)}`);
      hide($('page-error'));
    } catch (e) {
      showError($('page-error'), e);
    }
    await load();
  }

  async function load() {
    try {
      const hooks = await api('GET', '/api/webhooks');
      PH.replaceRows($('hooks-table').tBodies[0], hooks.map(row));
      $('no-hooks').hidden = hooks.length > 0;
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('hook-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('hook-error'));
      const f = new FormData(ev.target);
      const events = f.getAll('events');
      const body = { url: String(f.get('url') || '').trim(), events: events.includes('*') ? ['*'] : events };
      const secret = String(f.get('secret') || '').trim();
      if (secret) body.secret = secret;
      try {
        const created = await api('POST', '/api/webhooks', body);
        ev.target.reset();
        $('secret').value = created.secret;
        $('new-secret').hidden = false;
        $('secret').focus();
        $('secret').select();
        await load();
      } catch (e) {
        showError($('hook-error'), e);
      }
    });
    load();
  });
})();
