-- Requests are stored in blocks (see src/logs/block.rs): up to 1,024 requests of one domain
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

-- Rows stored one per request before blocks existed: converted into blocks at start-up,
-- then dropped (src/logs/legacy.rs).
-- The longest time any block spans (never lowered): a time range's blocks end no later than
-- `to` plus this, the bound of its index range.
ALTER TABLE access_log_stats ADD COLUMN max_span BIGINT NOT NULL DEFAULT 0;

DROP INDEX access_logs_ts;
DROP INDEX access_logs_domain_ts;
DROP INDEX access_logs_status_ts;
DROP INDEX access_logs_domain_status_ts;
ALTER TABLE access_logs RENAME TO access_logs_legacy;

-- Minute counts are read from the blocks' per-minute histograms; hour rollups stay.
DROP TABLE traffic_minutes;
