-- A fleet of Caddy nodes: each is changed with every push, all-or-nothing. `state` is
-- `active` (pushed to, counted) or `offline` (skipped). `seeded` marks the nodes made from
-- PROXYHUB_CADDY_ADMIN at start-up. What proxyhub last loaded onto a node (the hash of its
-- sites, `config_hash`) and the ETag Caddy then gave its config (`etag`) are shared by every
-- replica: a change is loaded with `If-Match` on that ETag, and a node whose ETag moved was
-- changed behind proxyhub's back.
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    admin_url TEXT NOT NULL UNIQUE,
    admin_listen TEXT,
    bind TEXT,
    access_log TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    seeded INTEGER NOT NULL DEFAULT 0,
    config_hash TEXT,
    -- The `@id` of that load's admin object: the drift check that first finds it in what the
    -- node runs takes the node's ETag as the one that followed the load (`etag`).
    marker TEXT,
    etag TEXT,
    last_apply_at TEXT,
    -- When the reconciler last found it drifted (restarted, edited by hand) and reloaded it.
    last_repair_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL
);
