-- Request counts kept beside the access-log rows at ingest, so the traffic chart reads a few
-- thousand rollup rows instead of scanning millions of requests.
-- WITHOUT ROWID: each rollup row lives in its primary key's B-tree alone (one write per
-- upserted row at ingest instead of a table row plus an index entry).
-- Per minute (kept two days) and per hour (kept as long as the logs), by domain and status
-- class (2..5 for 2xx..5xx, 0 for anything else).
CREATE TABLE traffic_minutes (
    minute BIGINT NOT NULL,
    domain TEXT NOT NULL,
    class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (minute, domain, class)
) WITHOUT ROWID;
CREATE TABLE traffic_hours (
    hour BIGINT NOT NULL,
    domain TEXT NOT NULL,
    class INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (hour, domain, class)
) WITHOUT ROWID;
