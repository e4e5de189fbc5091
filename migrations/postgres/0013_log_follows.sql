-- The access logs followed, and since when (epoch seconds). A rotated file this store never
-- holds a line of is finished when it was written after that moment (lines proxyhub was in
-- charge of), and left to `proxyhub logs import` when older. Written as a tail starts, before
-- a line is read: a process killed before its first batch has still begun following.
-- `node_id` 0 is this proxyhub's own tail; others are shipping nodes (`access_log_nodes`).
CREATE TABLE access_log_follows (
    node_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (node_id, path)
);
