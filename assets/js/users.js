'use strict';
// Account management for admins.
(() => {
  const { api, el, showError, hide } = PH;
  const $ = (id) => document.getElementById(id);
  const me = document.body.dataset.userId;

  async function change(u, body) {
    try {
      await api('PATCH', `/api/users/${encodeURIComponent(u.id)}`, body);
      hide($('page-error'));
    } catch (e) {
      showError($('page-error'), e);
    }
    await load();
  }

  function row(u) {
    const role = el('select', { 'aria-label': `Role of ${u.email}` },
      ['viewer', 'editor', 'admin'].map((r) => el('option', { value: r, selected: r === u.role }, r)));
    role.addEventListener('change', () => change(u, { role: role.value }));
    return el('tr', { dataset: { email: u.email } },
      el('td', {}, u.name, u.id === me ? el('span', { class: 'muted' }, ' (you)') : null),
      el('td', {}, u.email),
      el('td', {}, role),
      el('td', {}, u.disabled ? '⛔ disabled' : '✔ active'),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary', onclick: () => change(u, { disabled: !u.disabled }) },
          u.disabled ? `Enable ${u.email}` : `Disable ${u.email}`),
        el('button', { type: 'button', class: 'danger', onclick: () => remove(u) }, `Delete ${u.email}`)));
  }

  async function remove(u) {
    $('confirm-email').textContent = u.email;
    if (!await PH.confirmWith($('confirm-delete-user'), 'delete')) return;
    try {
      await api('DELETE', `/api/users/${encodeURIComponent(u.id)}`);
      hide($('page-error'));
    } catch (e) {
      showError($('page-error'), e);
    }
    await load();
  }

  async function load() {
    try {
      const users = await api('GET', '/api/users');
      PH.replaceRows($('users-table').tBodies[0], users.map(row));
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('user-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('user-error'));
      const f = new FormData(ev.target);
      try {
        await api('POST', '/api/users', { name: f.get('name'), email: f.get('email'), password: f.get('password'), role: f.get('role') });
        ev.target.reset();
        await load();
      } catch (e) {
        showError($('user-error'), e);
      }
    });
    load();
  });
})();
