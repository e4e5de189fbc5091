'use strict';
// The vhosts page: table with search, toggle, delete with confirmation (the editor is
// vhost-form.js).
(() => {
  const { api, el, showError, hide, canEdit, timeAgo, replaceRows } = PH;
  const $ = (id) => document.getElementById(id);
  let vhosts = [];

  function matches(v, q) {
    const names = [v.domain, ...(v.aliases || []), ...(v.upstreams || []), v.upstream || '',
      v.redirect ? v.redirect.target : ''];
    return !q || names.some((n) => n.toLowerCase().includes(q));
  }

  // The domain, and the other names it answers (a few, then how many more).
  function names(v) {
    const aliases = v.aliases || [];
    if (!aliases.length) return v.domain;
    const shown = aliases.slice(0, 3).join(', ');
    const more = aliases.length > 3 ? ` and ${aliases.length - 3} more` : '';
    return [v.domain, el('div', { class: 'aliases muted' }, `also ${shown}${more}`)];
  }

  const BALANCING = {
    round_robin: 'round robin', least_conn: 'least connections', ip_hash: 'client address hash',
    first: 'first available',
  };

  // What the vhost serves: a redirect (a badge that says so, its target), its upstreams with
  // how they share requests, or its snippet.
  function serves(v) {
    if (v.redirect) {
      return el('td', { class: 'serves' },
        el('span', { class: 'badge redirect' }, `Redirect ${v.redirect.code}`), ' ',
        el('span', { class: 'code' }, `→ ${v.redirect.target}`));
    }
    const ups = v.upstreams && v.upstreams.length ? v.upstreams : [v.upstream].filter(Boolean);
    if (!ups.length) return el('td', { class: 'code' }, v.config ? 'snippet' : '');
    // With a health check: each upstream's state in words, beside it.
    const state = new Map((v.upstreamHealth || []).map((h) => [h.upstream, h.healthy]));
    const mark = (u) => {
      if (!v.upstreamHealth) return null;
      const h = state.get(u);
      const [sign, word, level] = h === true ? ['✔', 'up', 'ok'] : h === false ? ['✖', 'down', 'bad'] : ['?', 'not checked yet', 'unknown'];
      return el('span', { class: 'health-state', 'data-level': level }, ' ', el('span', { 'aria-hidden': 'true' }, `${sign} `), word);
    };
    return el('td', { class: 'serves' },
      ups.map((u) => el('div', { class: 'code' }, u, mark(u))),
      ups.length > 1 || v.loadBalancing
        ? el('div', { class: 'muted' }, BALANCING[v.loadBalancing || 'round_robin'] || v.loadBalancing) : null,
      v.healthCheck ? el('div', { class: 'muted' }, `health check ${v.healthCheck.path}`) : null);
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
      el('button', { type: 'button', class: 'secondary', onclick: () => PHVhostForm.open(v, load), 'aria-label': `Edit ${v.domain}` }, 'Edit'),
      el('button', { type: 'button', class: 'danger', onclick: () => confirmDelete(v), 'aria-label': `Delete ${v.domain}` }, 'Delete'),
    ] : [el('span', { class: 'muted' }, 'read only')];
    return el('tr', { dataset: { domain: v.domain } },
      el('td', { class: 'domain' }, names(v)),
      serves(v),
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
    if ($('new-vhost')) $('new-vhost').addEventListener('click', () => PHVhostForm.open(null, load));
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
