'use strict';
// Shared by every page: API calls with the session cookie, DOM building without innerHTML,
// the proxy status indicator and sign-out.
const PH = (() => {
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  function toSignIn() {
    const here = location.pathname + location.search;
    location.assign('/sign-in?next=' + encodeURIComponent(here));
  }

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    const text = await r.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { error: 'BAD_RESPONSE', message: text }; }
    }
    if (r.status === 401 && !path.startsWith('/api/auth/')) {
      toSignIn();
      throw new ApiError(401, data);
    }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  // el('td', {class: 'x'}, 'text', child): text is always set as text, never parsed as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k === 'onclick') node.addEventListener('click', v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function showError(node, err) {
    node.replaceChildren();
    node.append(el('strong', {}, err.message || String(err)));
    const proxy = err.body && err.body.proxyMessage;
    if (proxy && proxy !== err.message) {
      node.append(el('pre', { class: 'proxy-message' }, proxy));
    }
    node.hidden = false;
  }

  function hide(node) {
    node.hidden = true;
    node.replaceChildren();
  }

  function canEdit() {
    return ['admin', 'editor'].includes(document.body.dataset.role);
  }

  function timeAgo(iso) {
    if (!iso) return 'never';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  function formatTime(iso) {
    return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, '') : '';
  }

  async function refreshStatus() {
    const node = document.getElementById('proxy-status');
    if (!node) return;
    try {
      const s = await api('GET', '/api/status');
      const parts = [`Proxy (${s.proxy}):`];
      let level = 'ok';
      if (s.reachable === false) { parts.push('✖ unreachable'); level = 'bad'; }
      else if (s.reachable === null) { parts.push('… not contacted yet'); level = 'warn'; }
      else parts.push('✔ reachable');
      if (s.inSync === true) parts.push('· ✔ in sync');
      else if (s.inSync === false) { parts.push('· ⚠ out of sync'); if (level === 'ok') level = 'warn'; }
      parts.push(`· last apply ${timeAgo(s.lastApplyAt)}`);
      node.textContent = parts.join(' ');
      node.title = s.lastError || '';
      node.dataset.level = level;
    } catch (e) {
      if (e.status !== 401) {
        node.textContent = 'Proxy: status unavailable';
        node.dataset.level = 'warn';
      }
    }
  }

  // What changes, as it happens (the server's event stream): the status indicator updates on
  // proxy and vhost events, and pages listen for `ph:event` to refresh what they show,
  // changes made by someone else included. The stream is open only while the page is shown:
  // a browser allows a handful of connections per server, which hidden tabs and pages kept
  // for the back button would otherwise hold. Shown again, the page catches up (`resync`).
  const KINDS = ['vhost.created', 'vhost.updated', 'vhost.deleted', 'vhost.toggled', 'proxy.apply_failed',
    'proxy.drift_repaired', 'proxy.unreachable', 'proxy.recovered'];
  let source = null;
  const tell = (kind, event) => document.dispatchEvent(new CustomEvent('ph:event', { detail: { kind, event } }));

  function openStream() {
    if (source || document.hidden || typeof EventSource === 'undefined') return;
    source = new EventSource('/api/events');
    for (const kind of KINDS) {
      source.addEventListener(kind, (ev) => {
        refreshStatus();
        tell(kind, JSON.parse(ev.data));
      });
    }
  }

  function closeStream() {
    if (source) { source.close(); source = null; }
  }

  function listen() {
    if (!document.getElementById('proxy-status')) return;
    openStream();
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) { closeStream(); return; }
      openStream();
      refreshStatus();
      tell('resync', null);
    });
    window.addEventListener('pagehide', closeStream);
    window.addEventListener('pageshow', (ev) => {
      if (!ev.persisted) return;
      openStream();
      refreshStatus();
      tell('resync', null);
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    const out = document.getElementById('sign-out');
    if (out) {
      out.addEventListener('click', async () => {
        try { await api('POST', '/api/auth/sign-out', {}); } finally { location.assign('/sign-in'); }
      });
    }
    if (!canEdit()) document.querySelectorAll('.editor-only').forEach((n) => { n.hidden = true; });
    refreshStatus();
    setInterval(refreshStatus, 10000);
    listen();
  });

  // Opens a confirmation <dialog> (a form with method="dialog"); resolves to whether it was
  // closed with the button whose value is `yes`.
  function confirmWith(dialog, yes) {
    return new Promise((resolve) => {
      dialog.returnValue = '';
      dialog.onclose = () => resolve(dialog.returnValue === yes);
      dialog.showModal();
    });
  }

  // Replaces a table's rows without losing keyboard focus: a control that had it gets it back
  // in the new version of its row (rows are told apart by their data- attributes, controls by
  // their place in the row), or in the row now at its place; with no rows left, the table's
  // scrolling region takes it.
  function replaceRows(tbody, rows) {
    const had = tbody.contains(document.activeElement) ? document.activeElement : null;
    const controls = (row) => [...row.querySelectorAll('button, select, input, a[href]')];
    const key = (row) => JSON.stringify({ ...row.dataset });
    const oldRow = had && had.closest('tr');
    const at = oldRow ? [...tbody.rows].indexOf(oldRow) : -1;
    const nth = oldRow ? controls(oldRow).indexOf(had) : -1;
    tbody.replaceChildren(...rows);
    if (!had) return;
    const row = [...tbody.rows].find((r) => key(r) === key(oldRow))
      || tbody.rows[Math.min(at, tbody.rows.length - 1)];
    const next = row && controls(row).filter((c) => !c.disabled);
    const target = next && (next[nth] || next[0]);
    (target || tbody.closest('[tabindex]'))?.focus();
  }

  return { api, el, showError, hide, canEdit, timeAgo, formatTime, confirmWith, replaceRows, ApiError };
})();
