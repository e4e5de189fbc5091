-- Events: what changed or happened, written to an outbox in the transaction of the change
-- they describe, then delivered to webhooks and live streams from there.

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_us BIGINT NOT NULL
);

-- Where events are sent (admins'): the URL, the events it takes (a JSON list, or ["*"]),
-- the signing secret.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    -- The newest outbox event this webhook is done with (delivered, or given up on), and
    -- the retry of the next one: its attempts so far, when to try again and when it first
    -- failed (epoch seconds).
    delivered_through BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    retry_at BIGINT NOT NULL DEFAULT 0,
    failing_since BIGINT NOT NULL DEFAULT 0
);

-- Each delivery attempt, kept a while for the deliveries list.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL,
    event TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
