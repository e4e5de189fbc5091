-- A counter every change to vhosts moves, whoever writes: a change that was tried, pushed and
-- is then written again can tell in one read that nothing else changed the vhosts meanwhile.
CREATE TABLE vhosts_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO vhosts_generation (id, n) VALUES (1, 0);
CREATE FUNCTION vhosts_generation_bump() RETURNS trigger AS $$
BEGIN
    UPDATE vhosts_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER vhosts_generation_bump AFTER INSERT OR UPDATE OR DELETE ON vhosts
    FOR EACH STATEMENT EXECUTE FUNCTION vhosts_generation_bump();
