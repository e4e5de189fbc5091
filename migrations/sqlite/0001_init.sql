-- proxyhub's schema (SQLite). Released migrations are never edited: a change is a new file.

-- Accounts, sessions, vhosts and the changelog.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL DEFAULT 0,
    image TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    disabled INTEGER NOT NULL DEFAULT 0,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    domain TEXT NOT NULL UNIQUE,
    config TEXT,
    upstream TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE changelog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
    n INTEGER NOT NULL
);
INSERT INTO vhosts_generation (id, n) VALUES (1, 0);
CREATE TRIGGER vhosts_generation_insert AFTER INSERT ON vhosts
BEGIN
    UPDATE vhosts_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER vhosts_generation_update AFTER UPDATE ON vhosts
BEGIN
    UPDATE vhosts_generation SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER vhosts_generation_delete AFTER DELETE ON vhosts
BEGIN
    UPDATE vhosts_generation SET n = n + 1 WHERE id = 1;
END;

-- The access-log store.
-- Each domain once; requests refer to it by id (small rows, small integer index keys).
-- No foreign key: it would cost a lookup per inserted row, and ids are never deleted.
CREATE TABLE access_log_domains (
    id INTEGER PRIMARY KEY,
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
-- WITHOUT ROWID: each rollup row lives in its primary key's B-tree alone (one write per
-- upserted row at ingest instead of a table row plus an index entry).
-- Per hour (kept as long as the logs), by domain and status class (2..5 for 2xx..5xx, 0 for
-- anything else); per-minute counts come from each block's histogram.
CREATE TABLE traffic_hours (
    hour BIGINT NOT NULL,
    domain TEXT NOT NULL,
    class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (hour, domain, class)
) WITHOUT ROWID;

-- Requests are stored in blocks (see src/logs/store/block/): up to 1,024 requests of one domain
-- within one UTC day, newest first, each column packed on its own. One row per block
-- instead of one row and four index entries per request.
CREATE TABLE access_log_blocks (
    id INTEGER PRIMARY KEY,
    domain_id BIGINT NOT NULL,
    -- Epoch microseconds of the UTC day every request of the block falls in.
    day BIGINT NOT NULL,
    min_ts BIGINT NOT NULL,
    max_ts BIGINT NOT NULL,
    n BIGINT NOT NULL,
    -- Small columns first: a query reading them does not touch the big ones' overflow pages.
    hist BLOB NOT NULL,
    ts_data BLOB NOT NULL,
    status_data BLOB NOT NULL,
    method_data BLOB NOT NULL,
    path_data BLOB NOT NULL,
    rest_data BLOB NOT NULL
);
-- Newest blocks first, overall and per domain. A block's requests span less than a day, so a
-- time range is an index range of max_ts too; min_ts in the index tells, without reading the
-- block, whether it overlaps the range or lies wholly inside it (then `n` counts it).
CREATE INDEX access_log_blocks_max_ts ON access_log_blocks (max_ts, min_ts);
CREATE INDEX access_log_blocks_domain ON access_log_blocks (domain_id, max_ts, min_ts);
-- How many requests of each status each block holds, newest first: `status=500` reads only
-- the blocks that have one, and counts them without reading the blocks.
CREATE TABLE access_log_block_statuses (
    status BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    max_ts BIGINT NOT NULL,
    min_ts BIGINT NOT NULL,
    block_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (status, max_ts, min_ts, block_id)
) WITHOUT ROWID;
CREATE INDEX access_log_block_statuses_domain
    ON access_log_block_statuses (status, domain_id, max_ts, min_ts, block_id, n);
