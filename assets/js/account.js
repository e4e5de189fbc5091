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

  function twoFactor(on) {
    $('tfa-state').textContent = on
      ? 'Two-factor is on: signing in asks for a code from your authenticator app.'
      : 'Two-factor is off.';
    $('tfa-enable-form').hidden = on;
    $('tfa-disable-form').hidden = !on;
    if (on) $('tfa-setup').hidden = true;
  }

  async function load() {
    try {
      const me = await api('GET', '/api/auth/get-session');
      current = me && me.session ? me.session.token : null;
      if (me && me.user && $('tfa-setup').hidden) twoFactor(!!me.user.twoFactorEnabled);
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
    $('tfa-enable-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('tfa-error'));
      try {
        const setup = await api('POST', '/api/auth/two-factor/enable', { password: new FormData(ev.target).get('password') });
        ev.target.reset();
        ev.target.hidden = true;
        $('tfa-uri').value = setup.totpURI;
        $('tfa-link').setAttribute('href', setup.totpURI);
        if (setup.totpQR) $('tfa-qr').setAttribute('src', setup.totpQR);
        $('tfa-backup').replaceChildren(...setup.backupCodes.map((c) => el('li', {}, el('code', {}, c))));
        $('tfa-setup').hidden = false;
        $('tfa-code').focus();
      } catch (e) {
        showError($('tfa-error'), e);
      }
    });
    $('tfa-verify-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('tfa-error'));
      try {
        await api('POST', '/api/auth/two-factor/verify-totp', { code: new FormData(ev.target).get('code').trim() });
        ev.target.reset();
        twoFactor(true);
      } catch (e) {
        showError($('tfa-error'), e);
      }
    });
    $('tfa-disable-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hide($('tfa-error'));
      try {
        await api('POST', '/api/auth/two-factor/disable', { password: new FormData(ev.target).get('password') });
        ev.target.reset();
        twoFactor(false);
      } catch (e) {
        showError($('tfa-error'), e);
      }
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
