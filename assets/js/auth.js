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
    const sso = document.getElementById('sso');
    if (sso) sso.hidden = true;
    form.hidden = false;
    document.getElementById('code').focus();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      PH.hide(error);
      const code = new FormData(form).get('code').trim();
      const path = code.includes('-') ? '/api/auth/two-factor/verify-backup-code' : '/api/auth/two-factor/verify-totp';
      try {
        await PH.api('POST', path, { code, trustDevice: document.getElementById('trust-device').checked });
        location.assign(nextPath());
      } catch (e) {
        PH.showError(error, e);
      }
    });
  }

  // Single sign-on: the provider's page, then back through /api/auth/callback/oidc.
  const sso = document.getElementById('sso-button');
  if (sso) {
    sso.addEventListener('click', async () => {
      const error = document.getElementById('form-error');
      PH.hide(error);
      sso.disabled = true;
      try {
        const answer = await PH.api('POST', '/api/auth/sign-in/social', {
          provider: 'oidc', callbackURL: nextPath(), errorCallbackURL: '/sign-in', disableRedirect: true,
        });
        location.assign(answer.url);
      } catch (e) {
        PH.showError(error, e);
        sso.disabled = false;
      }
    });
  }

  // Back from the provider: a refusal to explain, or an account that asks for its code.
  const SSO_ERRORS = {
    email_not_verified: 'Your identity provider has not verified your email address.',
    email_not_found: 'Your identity provider gave no email address.',
    email_domain_not_allowed: 'Accounts of your email domain may not sign in here.',
    account_disabled: 'This account is disabled.',
    setup_required: 'Create the first admin account (at /setup) before signing in with SSO.',
    state_mismatch: 'This sign-in was started in another browser or has expired: try again.',
    state_not_found: 'This sign-in has expired or was already used: try again.',
    invalid_id_token: "The identity provider's answer could not be verified.",
    access_denied: 'The sign-in was cancelled at the identity provider.',
    provider_unreachable: 'The identity provider cannot be reached.',
  };
  const params = new URLSearchParams(location.search);
  const failed = params.get('error');
  if (failed && document.getElementById('sign-in-form')) {
    const error = document.getElementById('form-error');
    PH.showError(error, new Error(SSO_ERRORS[failed] || `Single sign-on failed (${failed}).`));
    error.hidden = false;
  }
  if (params.get('twoFactor') === '1' && document.getElementById('sign-in-form')) {
    secondFactor(document.getElementById('sign-in-form'));
  }

  wire('setup-form', '/api/auth/sign-up/email', (f) => ({
    name: f.get('name'), email: f.get('email'), password: f.get('password'),
  }));
  wire('sign-in-form', '/api/auth/sign-in/email', (f) => ({
    email: f.get('email'), password: f.get('password'),
  }));
})();
