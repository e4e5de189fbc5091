-- Requests per minute, domain and status class, kept beside the requests at ingest for the
-- last two days, so the traffic chart of a busy proxy reads a few thousand rollup rows
-- instead of every block of the period (at 50,000 requests a second, an hour is over a
-- million blocks). WITHOUT ROWID, as traffic_hours.
CREATE TABLE traffic_minutes (
    minute BIGINT NOT NULL,
    domain TEXT NOT NULL,
    class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (minute, domain, class)
) WITHOUT ROWID;

-- Requests stored before this migration are not in the minute rollups: minutes up to the
-- newest of them (epoch microseconds) are still counted from the blocks.
ALTER TABLE access_log_stats ADD COLUMN minutes_since BIGINT NOT NULL DEFAULT 0;
UPDATE access_log_stats SET minutes_since = COALESCE((SELECT MAX(max_ts) FROM access_log_blocks), 0) WHERE id = 1;
