-- Single sign-on with an OpenID Connect provider, and devices trusted after a second factor.

-- An account's identity at a provider (Better Auth's `account` rows for social sign-in): the
-- provider's subject identifier (`sub`) is what a later sign-in is matched by.
CREATE TABLE linked_accounts (
    provider_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider_id, account_id)
);
CREATE INDEX linked_accounts_user ON linked_accounts (user_id);

-- A sign-in sent to the provider and not back yet: known by the SHA-256 of its `state`,
-- with the PKCE verifier and the nonce the answer must carry, used once.
CREATE TABLE sso_states (
    id TEXT PRIMARY KEY,
    code_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    error_url TEXT NOT NULL,
    new_user_url TEXT,
    expires_at BIGINT NOT NULL
);

-- Browsers that finished a second factor with `trustDevice` (Better Auth's twoFactor plugin):
-- known by the SHA-256 of their cookie, spared the code until `expires_at`.
CREATE TABLE trusted_devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX trusted_devices_user ON trusted_devices (user_id);
