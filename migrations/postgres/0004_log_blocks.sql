-- Requests are stored in blocks (see src/logs/block.rs): up to 1,024 requests of one domain
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

-- The longest time any block spans (never lowered): a time range's blocks end no later than
-- `to` plus this, the bound of its index range.
ALTER TABLE access_log_stats ADD COLUMN max_span BIGINT NOT NULL DEFAULT 0;

DROP INDEX access_logs_ts;
DROP INDEX access_logs_domain_ts;
DROP INDEX access_logs_status_ts;
DROP INDEX access_logs_domain_status_ts;
ALTER TABLE access_logs RENAME TO access_logs_legacy;

DROP TABLE traffic_minutes;
