'use strict';
// The vhosts page: table with search, create/edit form, toggle, delete with confirmation.
(() => {
  const { api, el, showError, hide, canEdit, timeAgo, replaceRows } = PH;
  const $ = (id) => document.getElementById(id);
  let vhosts = [];
  let editing = null; // the vhost being edited, or null for a new one

  function matches(v, q) {
    return !q || v.domain.includes(q) || (v.upstream || '').toLowerCase().includes(q);
  }

  // The certificate served for the domain, as proxyhub last checked it: said in words (a
  // flag is text, not only a colour), with the issuer beneath.
  function certificate(c) {
    if (!c) return el('span', { class: 'muted' }, '—', el('span', { class: 'visually-hidden' }, 'not checked'));
    const until = c.notAfter ? `${c.notAfter.slice(0, 16).replace('T', ' ')} UTC` : '';
    const [level, text] = !c.matches ? ['bad', `Problem: ${c.problem}`]
      : c.expiringSoon ? ['warn', `Expires soon: ${until}`] : ['ok', `Valid until ${until}`];
    return el('span', { class: `cert ${level}`, title: c.issuer ? `Issued by ${c.issuer}` : null },
      level === 'ok' ? null : el('span', { 'aria-hidden': 'true' }, '⚠ '), text,
      c.issuer ? el('span', { class: 'issuer' }, `Issuer: ${c.issuer}`) : null);
  }

  function row(v) {
    const editable = canEdit();
    // A switch named by what it shows (WCAG label in name), with the domain for context.
    const toggle = el('button', {
      type: 'button', class: v.enabled ? 'toggle on' : 'toggle off',
      role: 'switch', 'aria-checked': String(v.enabled), disabled: !editable,
      onclick: () => toggleVhost(v),
    }, el('span', { 'aria-hidden': 'true' }, v.enabled ? '● ' : '○ '), v.enabled ? 'Enabled' : 'Disabled',
    el('span', { class: 'visually-hidden' }, ` ${v.domain}`));
    const actions = editable ? [
      el('button', { type: 'button', class: 'secondary', onclick: () => openEditor(v), 'aria-label': `Edit ${v.domain}` }, 'Edit'),
      el('button', { type: 'button', class: 'danger', onclick: () => confirmDelete(v), 'aria-label': `Delete ${v.domain}` }, 'Delete'),
    ] : [el('span', { class: 'muted' }, 'read only')];
    return el('tr', { dataset: { domain: v.domain } },
      el('td', { class: 'domain' }, v.domain),
      el('td', { class: 'code' }, v.upstream || (v.config ? 'snippet' : '')),
      el('td', {}, toggle),
      el('td', {}, certificate(v.certificate)),
      el('td', { title: v.updatedAt }, timeAgo(v.updatedAt)),
      el('td', { class: 'actions' }, actions));
  }

  function render() {
    const q = $('vhost-search').value.trim().toLowerCase();
    const shown = vhosts.filter((v) => matches(v, q));
    replaceRows($('vhosts-table').tBodies[0], shown.map(row));
    $('vhosts-empty').hidden = vhosts.length > 0;
    $('vhost-count').textContent = `${shown.length} of ${vhosts.length} vhosts`;
  }

  let shownJson = null;

  async function load() {
    try {
      const fresh = await api('GET', '/api/vhosts');
      hide($('page-error'));
      // An event about a change this page just made (or no change at all) redraws nothing:
      // rows are not replaced under the user's pointer for nothing.
      const json = JSON.stringify(fresh);
      if (json === shownJson) return;
      shownJson = json;
      vhosts = fresh;
      render();
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  function openEditor(v) {
    editing = v;
    hide($('vhost-error'));
    $('editor-title').textContent = v ? `Edit ${v.domain}` : 'New vhost';
    $('vh-domain').value = v ? v.domain : '';
    $('vh-upstream').value = v ? v.upstream || '' : '';
    $('vh-config').value = v ? v.config || '' : '';
    $('vh-enabled').checked = v ? v.enabled : true;
    $('vhost-editor').hidden = false;
    $('vh-domain').focus();
  }

  // Keyboard focus goes back where the editor was opened from: the row's Edit button, or
  // "New vhost".
  function closeEditor(domain) {
    $('vhost-editor').hidden = true;
    const edit = domain && document.querySelector(`tr[data-domain="${CSS.escape(domain)}"] button.secondary`);
    (edit || $('new-vhost'))?.focus();
  }

  async function save(ev) {
    ev.preventDefault();
    hide($('vhost-error'));
    const body = {
      domain: $('vh-domain').value.trim(),
      upstream: $('vh-upstream').value.trim() || null,
      config: $('vh-config').value.trim() ? $('vh-config').value : null,
      enabled: $('vh-enabled').checked,
    };
    $('vhost-save').disabled = true;
    try {
      if (editing) await api('PUT', `/api/vhosts/${editing.id}`, body);
      else await api('POST', '/api/vhosts', body);
      await load();
      closeEditor(editing && body.domain);
    } catch (e) {
      // What was typed stays in the form; the proxy's message is shown beside it.
      showError($('vhost-error'), e);
    } finally {
      $('vhost-save').disabled = false;
    }
  }

  async function toggleVhost(v) {
    try {
      await api('PATCH', `/api/vhosts/${v.id}/toggle`);
      await load();
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  async function confirmDelete(v) {
    $('confirm-domain').textContent = v.domain;
    if (!await PH.confirmWith($('confirm-delete'), 'delete')) return;
    try {
      await api('DELETE', `/api/vhosts/${v.id}`);
      await load();
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    if ($('new-vhost')) $('new-vhost').addEventListener('click', () => openEditor(null));
    $('vhost-cancel').addEventListener('click', () => closeEditor(editing && editing.domain));
    $('vhost-form').addEventListener('submit', save);
    $('vhost-search').addEventListener('input', render);
    // Changes made elsewhere (another browser, a script, an import) show up here at once.
    document.addEventListener('ph:event', (ev) => {
      if (ev.detail.kind.startsWith('vhost.') || ev.detail.kind === 'resync') load();
    });
    // Certificate checks come after the change that caused them, with no event of their own.
    setInterval(() => { if (!document.hidden) load(); }, 30000);
    load();
  });
})();
