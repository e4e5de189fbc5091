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
        await PH.api('POST', path, body(new FormData(form)));
        location.assign(nextPath());
      } catch (e) {
        PH.showError(error, e);
        button.disabled = false;
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
