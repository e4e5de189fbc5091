-- proxyhub's schema (PostgreSQL). Released migrations are never edited: a change is a new file.

-- Accounts, sessions, vhosts and the changelog.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    email_verified BIGINT NOT NULL DEFAULT 0,
    image TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE vhosts (
    id BIGSERIAL PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    config TEXT,
    upstream TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE changelog (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'toggle')),
    domain TEXT NOT NULL,
    diff TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX changelog_domain ON changelog (domain, id);

-- A counter every change to vhosts moves, whoever writes: a change that was tried, pushed and
-- is then written again can tell in one read that nothing else changed the vhosts meanwhile.
CREATE TABLE vhosts_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO vhosts_generation (id, n) VALUES (1, 0);
CREATE FUNCTION vhosts_generation_bump() RETURNS trigger AS $$
BEGIN
    UPDATE vhosts_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vhosts_generation_bump AFTER INSERT OR UPDATE OR DELETE ON vhosts
    FOR EACH STATEMENT EXECUTE FUNCTION vhosts_generation_bump();

-- The access-log store.
-- Each domain once; requests refer to it by id (small rows, small integer index keys).
-- No foreign key: it would cost a lookup per inserted row, and ids are never deleted.
CREATE TABLE access_log_domains (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- How far each log file has been read. A file is known by a hash of its first line, so a
-- renamed, copied or gzipped file is the same file; dev/ino say where it was last seen.
-- `position` is committed in the same transaction as the rows it covers.
CREATE TABLE access_log_files (
    fingerprint TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    dev BIGINT NOT NULL,
    ino BIGINT NOT NULL,
    position BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Counters kept exact in the transactions that insert and prune rows.
CREATE TABLE access_log_stats (
    id INTEGER PRIMARY KEY,
    row_count BIGINT NOT NULL,
    -- The longest time any block spans (never lowered): a time range's blocks end no later
    -- than `to` plus this, the bound of its index range.
    max_span BIGINT NOT NULL DEFAULT 0
);
INSERT INTO access_log_stats (id, row_count) VALUES (1, 0);

-- Request counts kept beside the access-log rows at ingest, so the traffic chart reads a few
-- thousand rollup rows instead of scanning millions of requests.
-- Per hour (kept as long as the logs), by domain and status class (2..5 for 2xx..5xx, 0 for
-- anything else); per-minute counts come from each block's histogram.
CREATE TABLE traffic_hours (
    hour BIGINT NOT NULL,
    domain TEXT NOT NULL,
    class BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (hour, domain, class)
);

-- Requests are stored in blocks (see src/logs/store/block/): up to 1,024 requests of one domain
-- within one UTC day, newest first, each column packed on its own.
CREATE TABLE access_log_blocks (
    id BIGSERIAL PRIMARY KEY,
    domain_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    min_ts BIGINT NOT NULL,
    max_ts BIGINT NOT NULL,
    n BIGINT NOT NULL,
    hist BYTEA NOT NULL,
    ts_data BYTEA NOT NULL,
    status_data BYTEA NOT NULL,
    method_data BYTEA NOT NULL,
    path_data BYTEA NOT NULL,
    rest_data BYTEA NOT NULL
);
CREATE INDEX access_log_blocks_max_ts ON access_log_blocks (max_ts, min_ts, id);
CREATE INDEX access_log_blocks_domain ON access_log_blocks (domain_id, max_ts, min_ts, id);
CREATE TABLE access_log_block_statuses (
    status BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    max_ts BIGINT NOT NULL,
    min_ts BIGINT NOT NULL,
    block_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (status, max_ts, min_ts, block_id)
);
CREATE INDEX access_log_block_statuses_domain
    ON access_log_block_statuses (status, domain_id, max_ts, min_ts, block_id, n);
