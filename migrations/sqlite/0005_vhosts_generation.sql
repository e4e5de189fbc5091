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
