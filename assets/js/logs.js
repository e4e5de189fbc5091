'use strict';
// The logs page: filters live in the URL (shareable), the table pages through /api/logs.
(() => {
  const { api, el, showError, hide, formatTime } = PH;
  const $ = (id) => document.getElementById(id);
  const FIELDS = ['domain', 'status', 'method', 'q', 'node', 'from', 'to'];
  // Rows a live view keeps on screen.
  const LIVE_ROWS = 500;
  let stream = null;

  function toIso(local) {
    const d = new Date(local);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  }

  function statusCell(status) {
    const cls = status >= 100 && status < 600 ? `s${Math.floor(status / 100)}xx` : 'sother';
    return el('td', {}, el('span', { class: `badge ${cls}` }, String(status)));
  }

  function row(l) {
    return el('tr', {},
      el('td', {}, el('time', { datetime: l.timestamp }, formatTime(l.timestamp))),
      el('td', { class: 'domain' }, l.domain),
      // Requests of proxyhub's own access log have no node.
      l.node ? el('td', { class: 'code' }, l.node) : el('td', { class: 'muted' }, 'this hub'),
      el('td', {}, l.method),
      el('td', { class: 'code path' }, l.path),
      statusCell(l.status),
      el('td', {}, l.latency),
      el('td', { class: 'code' }, l.ip));
  }

  function pageLink(node, params, page, enabled) {
    const p = new URLSearchParams(params);
    p.set('page', String(page));
    node.href = `/logs?${p}`;
    node.setAttribute('aria-disabled', String(!enabled));
    node.classList.toggle('disabled', !enabled);
  }

  async function load() {
    const params = new URLSearchParams(location.search);
    const query = new URLSearchParams();
    for (const f of FIELDS) {
      const v = params.get(f);
      if (!v) continue;
      query.set(f, f === 'from' || f === 'to' ? toIso(v) : v);
    }
    const page = Math.max(1, parseInt(params.get('page') || '1', 10) || 1);
    query.set('page', String(page));
    try {
      const r = await api('GET', `/api/logs?${query}`);
      hide($('page-error'));
      $('logs-table').tBodies[0].replaceChildren(...r.logs.map(row));
      const pages = Math.max(1, Math.ceil(r.total / r.pageSize));
      const more = r.totalExact === false ? '+' : '';
      const since = r.searchedSince
        ? ` (method and path filters searched requests since ${formatTime(r.searchedSince)}; set From/To to search earlier)`
        : '';
      $('logs-summary').textContent = `${r.total}${more} requests${since}`;
      $('page-info').textContent = `Page ${r.page} of ${pages}${more}`;
      pageLink($('prev-page'), params, page - 1, page > 1);
      pageLink($('next-page'), params, page + 1, r.logs.length === r.pageSize);
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  // Whether storing the log keeps up: on a saturated machine it falls behind and catches up
  // later, and the newest requests are missing here until then.
  async function ingestState() {
    try {
      const s = await api('GET', '/api/logs/status');
      const note = $('ingest-state');
      if (s.ingest.state === 'behind') {
        const mib = (s.ingest.lagBytes / 1048576).toFixed(1);
        const last = s.ingest.lastStoredAt ? `; last stored ${formatTime(s.ingest.lastStoredAt)}` : '';
        note.textContent = `Storing requests is behind the access log by ${mib} MiB${last}. It catches up on its own and no request is lost; until then the newest requests are missing here.`;
        note.hidden = false;
      } else {
        note.hidden = true;
      }
    } catch (e) {
      // The table's own error says what is wrong.
    }
  }

  // Live mode: the server's event stream carries each stored request matching the domain and
  // status filters; the method, path and node filters are applied here. Newest on top.
  function follow(on) {
    if (stream) { stream.close(); stream = null; }
    $('live-state').textContent = '';
    if (!on) return;
    const params = new URLSearchParams(location.search);
    const query = new URLSearchParams({ logs: '1' });
    for (const f of ['domain', 'status']) if (params.get(f)) query.set(f, params.get(f));
    const method = params.get('method');
    const q = (params.get('q') || '').toLowerCase();
    const node = (params.get('node') || '').toLowerCase();
    stream = new EventSource(`/api/events?${query}`);
    stream.addEventListener('open', () => { $('live-state').textContent = 'Live: following new requests.'; });
    stream.addEventListener('error', () => { $('live-state').textContent = 'Live: reconnecting…'; });
    stream.addEventListener('log.skipped', () => {
      $('live-state').textContent = 'Live: more requests arrive than this view shows; some were skipped.';
    });
    stream.addEventListener('log', (ev) => {
      const l = JSON.parse(ev.data);
      if (method && l.method !== method) return;
      if (q && !l.path.toLowerCase().includes(q)) return;
      if (node && l.node !== node) return;
      const body = $('logs-table').tBodies[0];
      body.prepend(row(l));
      while (body.rows.length > LIVE_ROWS) body.deleteRow(-1);
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    const params = new URLSearchParams(location.search);
    for (const f of FIELDS) {
      const v = params.get(f);
      if (v) $(`f-${f}`).value = v;
    }
    // The URL keeps the local time the user picked; the API gets UTC.
    $('log-filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const f of FIELDS) {
        const v = $(`f-${f}`).value.trim();
        if (v) p.set(f, v);
      }
      location.assign(`/logs${p.toString() ? `?${p}` : ''}`);
    });
    for (const link of [$('prev-page'), $('next-page')]) {
      link.addEventListener('click', (ev) => { if (link.classList.contains('disabled')) ev.preventDefault(); });
    }
    const live = $('live');
    live.checked = localStorage.getItem('proxyhub.liveLogs') === '1';
    live.addEventListener('change', () => {
      localStorage.setItem('proxyhub.liveLogs', live.checked ? '1' : '0');
      follow(live.checked);
    });
    follow(live.checked);
    // Not kept open behind the back button (see common.js).
    window.addEventListener('pagehide', () => follow(false));
    window.addEventListener('pageshow', (ev) => { if (ev.persisted) follow(live.checked); });
    load();
    ingestState();
    setInterval(ingestState, 5000);
  });
})();
