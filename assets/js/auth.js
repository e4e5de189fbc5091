'use strict';
// The first-run and sign-in forms.
(() => {
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next') || '/vhosts';
    // Resolve it the way the browser will, and go there only if it stays on this origin.
    try {
      const url = new URL(next, location.origin);
      if (url.origin === location.origin) return url.pathname + url.search + url.hash;
    } catch {
      // not a URL at all
    }
    return '/vhosts';
  }

  function wire(formId, path, body) {
    const form = document.getElementById(formId);
    if (!form) return;
    const error = document.getElementById('form-error');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      PH.hide(error);
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const answer = await PH.api('POST', path, body(new FormData(form)));
        if (answer && answer.twoFactorRedirect) {
          secondFactor(form);
          return;
        }
        location.assign(nextPath());
      } catch (e) {
        PH.showError(error, e);
        button.disabled = false;
      }
    });
  }

  // The sign-in waits for a code: the authenticator's, or a backup code (which has a dash).
  function secondFactor(signIn) {
    const form = document.getElementById('code-form');
    const error = document.getElementById('code-error');
    signIn.hidden = true;
    form.hidden = false;
    document.getElementById('code').focus();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      PH.hide(error);
      const code = new FormData(form).get('code').trim();
      const path = code.includes('-') ? '/api/auth/two-factor/verify-backup-code' : '/api/auth/two-factor/verify-totp';
      try {
        await PH.api('POST', path, { code });
        location.assign(nextPath());
      } catch (e) {
        PH.showError(error, e);
      }
    });
  }

  wire('setup-form', '/api/auth/sign-up/email', (f) => ({
    name: f.get('name'), email: f.get('email'), password: f.get('password'),
  }));
  wire('sign-in-form', '/api/auth/sign-in/email', (f) => ({
    email: f.get('email'), password: f.get('password'),
  }));
})();
