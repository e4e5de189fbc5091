-- Each domain once; requests refer to it by id (small rows, small integer index keys).
-- No foreign key: it would cost a lookup per inserted row, and ids are never deleted.
CREATE TABLE access_log_domains (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- One row per request the proxy served. Timestamps are epoch microseconds, latency in
-- microseconds: typed integers, so filters and ordering use the indexes.
CREATE TABLE access_logs (
    id BIGSERIAL PRIMARY KEY,
    ts BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    latency_us BIGINT NOT NULL,
    ip TEXT NOT NULL,
    size BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
-- Newest first (ts, then id), alone or under an equality filter.
CREATE INDEX access_logs_ts ON access_logs (ts, id);
-- (SQLite's domain index also carries method, status and path for the residual filters; a
-- B-tree entry here is limited to ~2.7 kB, which a long path could pass, so not here.)
CREATE INDEX access_logs_domain_ts ON access_logs (domain_id, ts, id);
CREATE INDEX access_logs_status_ts ON access_logs (status, ts, id);
CREATE INDEX access_logs_domain_status_ts ON access_logs (domain_id, status, ts, id);

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
    row_count BIGINT NOT NULL
);
INSERT INTO access_log_stats (id, row_count) VALUES (1, 0);
