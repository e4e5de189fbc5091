'use strict';
// Parts of the vhost editor: text lists, header lines, basic-auth user rows, refusals shown
// beside the field they name, and the upstreams' health.
const PHVhostFields = (() => {
  const { el, timeAgo } = PH;
  const $ = (id) => document.getElementById(id);

  // One entry per non-empty line, trimmed.
  const lines = (id) => $(id).value.split('\n').map((s) => s.trim()).filter(Boolean);
  const setLines = (id, list) => { $(id).value = (list || []).join('\n'); };

  // The line (1-based) of the `i`th entry of a list textarea: blank lines are skipped when read.
  function lineOf(id, i) {
    const all = $(id).value.split('\n');
    let seen = -1;
    for (let n = 0; n < all.length; n++) {
      if (all[n].trim() && ++seen === i) return n + 1;
    }
    return null;
  }

  // `Name: value` lines into an object; a line without a name and a colon is refused.
  function readSet(id) {
    const set = {};
    const all = $(id).value.split('\n');
    for (let n = 0; n < all.length; n++) {
      const line = all[n].trim();
      if (!line) continue;
      const at = line.indexOf(':');
      if (at <= 0) return { error: `Line ${n + 1}: write each header as Name: value` };
      set[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return { set };
  }

  const formatSet = (set) => Object.entries(set || {}).map(([k, v]) => `${k}: ${v}`).join('\n');

  // Basic-auth users: one row each (username, password, remove). Rows of stored users say
  // that an empty password keeps theirs.
  let seq = 0;

  function addUser(username, stored) {
    const n = ++seq;
    const id = (part) => `vh-user-${n}-${part}`;
    const name = el('input', { id: id('name'), class: 'user-name', autocomplete: 'off', spellcheck: 'false' });
    name.value = username || '';
    const password = el('input', {
      id: id('password'), class: 'user-password', type: 'password', autocomplete: 'new-password',
      'aria-describedby': id('help'),
    });
    const row = el('div', { class: 'user-row', role: 'group', 'aria-label': `User ${username || n}` },
      el('div', { class: 'field' }, el('label', { for: id('name') }, 'Username'), name),
      el('div', { class: 'field' }, el('label', { for: id('password') }, 'Password'), password,
        el('p', { id: id('help'), class: 'help' },
          stored ? 'Empty keeps the current password.' : 'Required for a new user.')),
      el('button', {
        type: 'button', class: 'secondary remove-user', 'aria-label': `Remove user ${username || n}`,
        onclick: () => { row.remove(); $('vh-add-user').focus(); },
      }, 'Remove'));
    $('vh-user-rows').append(row);
    return row;
  }

  function setUsers(names) {
    $('vh-user-rows').replaceChildren();
    for (const u of names) addUser(u, true);
  }

  // The users to send, and the row of each (for refusals naming `access.basicAuth[i]`).
  function readUsers() {
    const users = [];
    const rows = [];
    for (const row of $('vh-user-rows').querySelectorAll('.user-row')) {
      const username = row.querySelector('.user-name').value.trim();
      const password = row.querySelector('.user-password').value;
      if (!username && !password) continue;
      users.push(password ? { username, password } : { username });
      rows.push(row);
    }
    return { users, rows };
  }

  // Where a refusal's `field` is shown: the control, and the line of a list entry.
  const CONTROLS = [
    [/^aliases/, 'vh-aliases'], [/^upstreams?\b/, 'vh-upstreams'],
    [/^redirect\.target/, 'vh-redirect-target'], [/^redirect\.code/, 'vh-redirect-code'],
    [/^redirect/, 'vh-kind'], [/^loadBalancing/, 'vh-lb'],
    [/^healthCheck\.path/, 'vh-hc-path'], [/^healthCheck\.intervalSeconds/, 'vh-hc-interval'],
    [/^healthCheck\.expectStatus/, 'vh-hc-status'], [/^healthCheck/, 'vh-hc-enabled'],
    [/^access\.allow/, 'vh-allow'], [/^access\.deny/, 'vh-deny'], [/^access/, 'vh-users'],
    [/^headers\.request\.set/, 'vh-req-set'], [/^headers\.request\.remove/, 'vh-req-remove'],
    [/^headers\.response\.set/, 'vh-resp-set'], [/^headers\.response\.remove/, 'vh-resp-remove'],
    [/^headers/, 'vh-req-set'], [/^tls/, 'vh-tls-force'], [/^config/, 'vh-config'], [/^domain/, 'vh-domain'],
  ];

  function controlFor(field, userRows) {
    const user = /^access\.basicAuth\[(\d+)\]\.(username|password)/.exec(field);
    if (user && userRows[Number(user[1])]) {
      return { node: userRows[Number(user[1])].querySelector(user[2] === 'username' ? '.user-name' : '.user-password') };
    }
    const hit = CONTROLS.find(([re]) => re.test(field));
    if (!hit) return null;
    const index = /\[(\d+)\]$/.exec(field);
    const line = index && $(hit[1]).tagName === 'TEXTAREA' ? lineOf(hit[1], Number(index[1])) : null;
    return { node: $(hit[1]), line };
  }

  // Shows `message` under a control (after its help), tied to it with aria-describedby; a
  // closed section around it opens. Returns what takes the focus.
  function showAt(target, message) {
    const { node, line } = target;
    const errorId = `${node.id}-error`;
    $(errorId)?.remove();
    const text = line ? `Line ${line}: ${message}` : message;
    const p = el('p', { id: errorId, class: 'field-error' }, text);
    if (node.tagName === 'FIELDSET') {
      node.append(p);
    } else {
      let anchor = node.closest('.check') || node;
      while (anchor.nextElementSibling?.classList.contains('help')) anchor = anchor.nextElementSibling;
      anchor.after(p);
      node.setAttribute('aria-invalid', 'true');
    }
    const described = (node.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    node.setAttribute('aria-describedby', [...described, errorId].join(' '));
    node.closest('details')?.setAttribute('open', '');
    return node.tagName === 'FIELDSET' ? node.querySelector('input:checked, input, button') : node;
  }

  function clearErrors(form) {
    for (const p of form.querySelectorAll('.field-error')) {
      const owner = form.querySelector(`[aria-describedby~="${p.id}"]`);
      if (owner) {
        const rest = owner.getAttribute('aria-describedby').split(' ').filter((t) => t && t !== p.id);
        if (rest.length) owner.setAttribute('aria-describedby', rest.join(' '));
        else owner.removeAttribute('aria-describedby');
        owner.removeAttribute('aria-invalid');
      }
      p.remove();
    }
  }

  // The upstreams' health, when proxyhub reports it; nothing at all when it does not.
  async function showHealth(v, stillEditing) {
    const box = $('vh-health');
    box.hidden = true;
    $('vh-health-list').replaceChildren();
    if (!v || !(v.upstreams || []).length) return;
    let answer;
    try {
      answer = await PH.api('GET', `/api/vhosts/${v.id}/health`);
    } catch {
      return;
    }
    const ups = answer && Array.isArray(answer.upstreams) ? answer.upstreams : [];
    if (!ups.length || !stillEditing()) return;
    $('vh-health-list').replaceChildren(...ups.map(healthItem));
    box.hidden = false;
  }

  function healthItem(u) {
    const [mark, word, level] = u.healthy === true ? ['✔', 'healthy', 'ok']
      : u.healthy === false ? ['✖', 'unhealthy', 'bad'] : ['?', 'not checked yet', 'unknown'];
    const facts = [];
    if (typeof u.latencyMs === 'number') facts.push(`${u.latencyMs} ms`);
    if (u.lastCheck) facts.push(`checked ${timeAgo(u.lastCheck)}`);
    if (u.recentFailures) facts.push(`${u.recentFailures} recent failures`);
    return el('li', {},
      el('code', {}, String(u.upstream || '')), ' ',
      el('span', { class: 'health-state', 'data-level': level }, el('span', { 'aria-hidden': 'true' }, `${mark} `), word),
      facts.length ? el('span', { class: 'muted' }, ` · ${facts.join(' · ')}`) : null,
      u.lastError ? el('span', { class: 'muted' }, ` · ${u.lastError}`) : null);
  }

  return { lines, setLines, readSet, formatSet, addUser, setUsers, readUsers, controlFor, showAt, clearErrors, showHealth };
})();
