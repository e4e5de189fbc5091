-- Access logs shipped from other nodes (`proxyhub logs ship`): each node's name is stored
-- once; its requests are stored in blocks of their own (a block's `node_id`; NULL for the
-- lines of proxyhub's own tailer), so `node=` picks blocks by index; and how far each of a
-- node's files has been stored, committed in the transaction of the rows it covers.
CREATE TABLE access_log_nodes (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

ALTER TABLE access_log_blocks ADD COLUMN node_id BIGINT;
-- Only shipped blocks are in it: the local tailer's writes do not grow it.
CREATE INDEX access_log_blocks_node ON access_log_blocks (node_id, max_ts, min_ts)
    WHERE node_id IS NOT NULL;

CREATE TABLE access_log_node_files (
    node_id BIGINT NOT NULL,
    -- The hash of the file's first line, as in access_log_files.
    fingerprint TEXT NOT NULL,
    -- Where the shipper last read it, on its own machine.
    path TEXT NOT NULL,
    position BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, fingerprint)
);
CREATE INDEX access_log_node_files_path ON access_log_node_files (node_id, path, updated_at);
