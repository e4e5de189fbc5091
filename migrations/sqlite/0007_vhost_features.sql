-- What people actually proxy: a vhost's structured fields (aliases, redirect, upstreams with
-- load balancing and health checks, access, headers, TLS) as one JSON document, and every
-- extra host name a vhost answers (its aliases, `www.` of a redirect), each reserved for one
-- vhost across every vhost's domain and names.
ALTER TABLE vhosts ADD COLUMN options TEXT;

CREATE TABLE vhost_names (
    name TEXT PRIMARY KEY,
    vhost_id BIGINT NOT NULL
);
CREATE INDEX vhost_names_vhost_id ON vhost_names (vhost_id);
