-- Several proxyhub replicas on one store (PostgreSQL): what they share besides the desired
-- state. SQLite stores get the same tables (one proxyhub serves a SQLite store; they stay
-- empty).

-- The API's rate-limit windows (fixed, a minute long) per caller, under the SHA-256 of the
-- caller's key (a session's id is never stored here); the times are the store's clock, in ms.
CREATE TABLE rate_windows (
    key TEXT PRIMARY KEY,
    started_ms BIGINT NOT NULL,
    hits BIGINT NOT NULL
);

-- Sign-in and sign-up attempts per client address (a sliding window), one row each.
CREATE TABLE rate_attempts (
    key TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX rate_attempts_key ON rate_attempts (key, at_ms);
