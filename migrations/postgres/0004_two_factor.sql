-- Two-factor sign-in with an authenticator app (TOTP), as Better Auth's twoFactor plugin.

ALTER TABLE users ADD COLUMN two_factor_enabled BIGINT NOT NULL DEFAULT 0;

-- An account's authenticator secret (base32) and its unused backup codes (SHA-256 hashes,
-- space-separated). `verified`: a code was entered once, which turns two-factor on;
-- `last_step`: the newest TOTP time step accepted, so a code is accepted once.
CREATE TABLE two_factor (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    backup_codes TEXT NOT NULL,
    verified BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- A sign-in waiting for its second factor: known by the SHA-256 of the pending cookie.
CREATE TABLE two_factor_challenges (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    remember BIGINT NOT NULL DEFAULT 1
);
