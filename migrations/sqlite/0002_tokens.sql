-- API tokens, vhost versions (ETag / If-Match), and remembered answers (Idempotency-Key).

-- A token is known by the SHA-256 of its secret; the secret itself is shown once and never
-- stored. `scopes` is space-separated. Times are epoch seconds (NULL: never / not yet).
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

-- The name of the token a change was made with, beside its creator's name.
ALTER TABLE changelog ADD COLUMN token_name TEXT;

-- Every write of a vhost moves its version; the ETag is made of it.
ALTER TABLE vhosts ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- The first answer to a POST that carried an `Idempotency-Key`, per account, for 24 hours.
-- `status` is NULL while the first request is still being answered.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT,
    etag TEXT,
    body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
