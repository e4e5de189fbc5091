'use strict';
// The vhost editor: fills the form from a vhost, reads it back in the API's shape (only what
// the form holds), and shows a refusal beside the field it names, or above the form.
const PHVhostForm = (() => {
  const { api, showError, hide } = PH;
  const F = PHVhostFields;
  const $ = (id) => document.getElementById(id);
  let editing = null; // the vhost being edited, or null for a new one
  let saved = () => {};

  const isRedirect = () => $('vh-kind-redirect').checked;

  // A redirect host has no upstream and no snippet: those parts of the form go away.
  function showKind() {
    const redirect = isRedirect();
    $('vh-proxy-fields').hidden = redirect;
    $('vh-sec-advanced').hidden = redirect;
    $('vh-redirect-fields').hidden = !redirect;
  }

  function showHealthFields() {
    $('vh-hc-fields').hidden = !$('vh-hc-enabled').checked;
  }

  function fill(v) {
    const f = v || {};
    $('vh-domain').value = f.domain || '';
    F.setLines('vh-aliases', f.aliases);
    const r = f.redirect;
    $(r ? 'vh-kind-redirect' : 'vh-kind-proxy').checked = true;
    $('vh-redirect-target').value = r ? r.target : '';
    $('vh-redirect-code').value = String(r ? r.code : 301);
    $('vh-redirect-path').checked = !!(r && r.preservePath);
    $('vh-redirect-www').checked = !!(r && r.includeWww);
    F.setLines('vh-upstreams', f.upstreams && f.upstreams.length ? f.upstreams : [f.upstream].filter(Boolean));
    $('vh-lb').value = f.loadBalancing || '';
    const hc = f.healthCheck;
    $('vh-hc-enabled').checked = !!hc;
    $('vh-hc-path').value = hc ? hc.path : '/';
    $('vh-hc-interval').value = String(hc ? hc.intervalSeconds : 10);
    $('vh-hc-status').value = String(hc ? hc.expectStatus : 200);
    const access = f.access || {};
    F.setUsers((access.basicAuth || []).map((u) => u.username));
    F.setLines('vh-allow', access.allow);
    F.setLines('vh-deny', access.deny);
    const req = (f.headers && f.headers.request) || {};
    const resp = (f.headers && f.headers.response) || {};
    $('vh-req-set').value = F.formatSet(req.set);
    F.setLines('vh-req-remove', req.remove);
    $('vh-resp-set').value = F.formatSet(resp.set);
    F.setLines('vh-resp-remove', resp.remove);
    $('vh-tls-force').checked = !!(f.tls && f.tls.forceHttps);
    $('vh-tls-hsts').checked = !!(f.tls && f.tls.hsts);
    $('vh-config').value = f.config || '';
    $('vh-enabled').checked = v ? v.enabled : true;
    // A section with something in it is open; empty ones stay folded.
    $('vh-sec-access').open = !!((access.basicAuth || []).length || (access.allow || []).length || (access.deny || []).length);
    $('vh-sec-headers').open = !!f.headers;
    $('vh-sec-tls').open = !!f.tls;
    $('vh-sec-advanced').open = !!f.config;
    showKind();
    showHealthFields();
  }

  // The body to send, or a local refusal ({field control id, message}) before anything is sent.
  function read() {
    const body = {
      domain: $('vh-domain').value.trim(),
      enabled: $('vh-enabled').checked,
      aliases: F.lines('vh-aliases'),
    };
    if (isRedirect()) {
      body.redirect = {
        target: $('vh-redirect-target').value.trim(),
        code: Number($('vh-redirect-code').value),
        preservePath: $('vh-redirect-path').checked,
        includeWww: $('vh-redirect-www').checked,
      };
      Object.assign(body, { upstreams: [], loadBalancing: null, healthCheck: null, config: null });
    } else {
      body.redirect = null;
      body.upstreams = F.lines('vh-upstreams');
      body.loadBalancing = $('vh-lb').value || null;
      body.healthCheck = $('vh-hc-enabled').checked ? {
        path: $('vh-hc-path').value.trim(),
        intervalSeconds: Number($('vh-hc-interval').value),
        expectStatus: Number($('vh-hc-status').value),
      } : null;
      body.config = $('vh-config').value.trim() ? $('vh-config').value : null;
    }
    const { users, rows } = F.readUsers();
    const allow = F.lines('vh-allow');
    const deny = F.lines('vh-deny');
    body.access = users.length || allow.length || deny.length ? { basicAuth: users, allow, deny } : null;
    const sets = {};
    for (const id of ['vh-req-set', 'vh-resp-set']) {
      const got = F.readSet(id);
      if (got.error) return { local: { node: $(id) }, message: got.error };
      sets[id] = got.set;
    }
    const headers = {
      request: { set: sets['vh-req-set'], remove: F.lines('vh-req-remove') },
      response: { set: sets['vh-resp-set'], remove: F.lines('vh-resp-remove') },
    };
    const none = (ops) => !Object.keys(ops.set).length && !ops.remove.length;
    body.headers = none(headers.request) && none(headers.response) ? null : headers;
    const tls = { forceHttps: $('vh-tls-force').checked, hsts: $('vh-tls-hsts').checked };
    body.tls = tls.forceHttps || tls.hsts ? tls : null;
    return { body, userRows: rows };
  }

  function open(v, onSaved) {
    editing = v;
    saved = onSaved;
    hide($('vhost-error'));
    F.clearErrors($('vhost-form'));
    $('editor-title').textContent = v ? `Edit ${v.domain}` : 'New vhost';
    fill(v);
    $('vhost-editor').hidden = false;
    $('vh-domain').focus();
    F.showHealth(v, () => editing === v && !$('vhost-editor').hidden);
  }

  // Keyboard focus goes back where the editor was opened from: the row's Edit button, or
  // "New vhost".
  function close(domain) {
    $('vhost-editor').hidden = true;
    editing = null;
    const edit = domain && document.querySelector(`tr[data-domain="${CSS.escape(domain)}"] button.secondary`);
    (edit || $('new-vhost'))?.focus();
  }

  // The server's refusal: beside the field it names, or above the form.
  function refused(e, userRows) {
    const field = e.body && e.body.field;
    const target = field && F.controlFor(field, userRows);
    if (e.status === 400 && target && target.node && !target.node.closest('[hidden]')) {
      const prefix = `${field}: `;
      const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      F.showAt(target, message).focus();
      return;
    }
    showError($('vhost-error'), e);
    $('vhost-error').focus();
  }

  async function save(ev) {
    ev.preventDefault();
    hide($('vhost-error'));
    F.clearErrors($('vhost-form'));
    const got = read();
    if (got.local) {
      F.showAt(got.local, got.message).focus();
      return;
    }
    $('vhost-save').disabled = true;
    try {
      if (editing) await api('PUT', `/api/vhosts/${editing.id}`, got.body);
      else await api('POST', '/api/vhosts', got.body);
      const domain = editing && got.body.domain;
      await saved();
      close(domain);
    } catch (e) {
      // What was typed stays in the form.
      refused(e, got.userRows);
    } finally {
      $('vhost-save').disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (!$('vhost-form')) return;
    $('vhost-form').addEventListener('submit', save);
    $('vhost-cancel').addEventListener('click', () => close(editing && editing.domain));
    $('vh-kind-proxy').addEventListener('change', showKind);
    $('vh-kind-redirect').addEventListener('change', showKind);
    $('vh-hc-enabled').addEventListener('change', showHealthFields);
    $('vh-add-user').addEventListener('click', () => F.addUser('', false).querySelector('input').focus());
  });

  return { open, close };
})();
