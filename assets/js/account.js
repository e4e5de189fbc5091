'use strict';
// Your account: the sessions you are signed in with (revoke any), and a password change.
(() => {
  const { api, el, showError, hide, formatTime } = PH;
  const $ = (id) => document.getElementById(id);
  let current = null;

  // "Firefox on Linux"-style names are guesswork; the user agent as sent is shown whole.
  function device(ua) {
    return ua ? ua : 'unknown device';
  }

  function row(s) {
    const mine = s.token === current;
    const revoke = el('button', { type: 'button', class: 'secondary revoke' },
      mine ? 'Sign out here' : `Sign out ${device(s.userAgent).slice(0, 40)}`);
    revoke.addEventListener('click', async () => {
      try {
        await api('POST', '/api/auth/revoke-session', { token: s.token });
        if (mine) { location.assign('/sign-in'); return; }
        hide($('page-error'));
      } catch (e) {
        showError($('page-error'), e);
      }
      await load();
    });
    return el('tr', { dataset: { token: s.token || '' } },
      el('td', {}, device(s.userAgent), mine ? el('span', { class: 'muted' }, ' (this browser)') : null),
      el('td', {}, s.ipAddress || '—'),
      el('td', {}, s.createdAt ? el('time', { datetime: s.createdAt }, formatTime(s.createdAt)) : '—'),
      el('td', {}, s.updatedAt ? el('time', { datetime: s.updatedAt }, formatTime(s.updatedAt)) : '—'),
      el('td', { class: 'actions' }, revoke));
  }

  async function load() {
    try {
      const me = await api('GET', '/api/auth/get-session');
      current = me && me.session ? me.session.token : null;
      const sessions = await api('GET', '/api/auth/list-sessions');
      $('sessions-table').tBodies[0].replaceChildren(...sessions.map(row));
    } catch (e) {
      showError($('page-error'), e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('revoke-others').addEventListener('click', async () => {
      try {
        await api('POST', '/api/auth/revoke-other-sessions');
        hide($('page-error'));
      } catch (e) {
        showError($('page-error'), e);
      }
      await load();
    });
    $('password-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('password-error'));
      $('password-done').textContent = '';
      const f = new FormData(ev.target);
      try {
        await api('POST', '/api/auth/change-password', {
          currentPassword: f.get('currentPassword'),
          newPassword: f.get('newPassword'),
          revokeOtherSessions: f.get('revokeOtherSessions') === 'on',
        });
        ev.target.reset();
        $('password-done').textContent = 'Password changed.';
        await load();
      } catch (e) {
        showError($('password-error'), e);
      }
    });
    load();
  });
})();
