-- A number every change of the configuration moves, in the transaction that makes it (the
-- changelog's entry is written in the same one): reads of vhosts and of the changelog are
-- remembered while it stays, and one look at it tells, on any replica, whether they still
-- hold. A counter in one row, not MAX(changelog.id): PostgreSQL's ids are handed out before
-- their transactions commit, and may commit out of order.
CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO config_version (id, n) VALUES (1, 0);
