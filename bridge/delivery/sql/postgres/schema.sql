-- The whole schema as of the latest migration (a test proves that they agree).

-- `key` is the stored notification's own key (jobs reference it); `content_key` the dedupe key
-- it arrived with (Notification.key), stored more than once when an object returns to it.
CREATE TABLE notifications (
    seq BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    content_key TEXT NOT NULL,
    webhook TEXT,
    format TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    request_id TEXT,
    raw TEXT NOT NULL,
    events TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL
);
CREATE INDEX notifications_received_at ON notifications (received_at);

-- The latest notification accepted per object and webhook ('' for a null part): a notification
-- about an object is a redelivery only if it repeats this one (migration 0002). `run`: a hash
-- of the object's content keys in the request that made this its latest, when there were
-- several; a retry of that request repeats them all (migration 0006).
CREATE TABLE object_latest (
    webhook TEXT NOT NULL,
    object_id TEXT NOT NULL,
    language TEXT NOT NULL,
    slot TEXT NOT NULL,
    content_key TEXT NOT NULL,
    last_modified TEXT,
    received_at DOUBLE PRECISION NOT NULL,
    run TEXT,
    PRIMARY KEY (webhook, object_id, language, slot)
);
CREATE INDEX object_latest_object ON object_latest (object_id, language, slot);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    action TEXT NOT NULL,
    rule TEXT NOT NULL,
    notification_key TEXT,
    event TEXT NOT NULL,
    inputs TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    request_id TEXT,
    summary TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at DOUBLE PRECISION NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    batch_id TEXT,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_index INTEGER NOT NULL DEFAULT 0,
    first_failure_at DOUBLE PRECISION,
    last_attempt_at DOUBLE PRECISION,
    last_status INTEGER,
    last_response TEXT,
    last_error TEXT,
    finished_at DOUBLE PRECISION
);
CREATE INDEX jobs_queue ON jobs (action, state, id);
CREATE INDEX jobs_batch ON jobs (batch_id);
CREATE INDEX jobs_notification ON jobs (notification_key);
CREATE INDEX jobs_rule ON jobs (rule, id);
CREATE INDEX jobs_finished_at ON jobs (state, finished_at, action, created_at);
CREATE INDEX jobs_failed ON jobs (id, action, failures) WHERE failures > 0;

CREATE TABLE attempts (
    job_id BIGINT NOT NULL,
    number INTEGER NOT NULL,
    delivery_id TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    error TEXT,
    request TEXT,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX attempts_failed_started ON attempts (started_at) WHERE outcome <> 'succeeded';

-- One row per action; claims lock it (FOR UPDATE SKIP LOCKED), so across replicas only one
-- claimer at a time decides an action's ordering and debounce windows.
CREATE TABLE actions (
    name TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    last_success_at DOUBLE PRECISION,
    last_failure_at DOUBLE PRECISION,
    failing_since DOUBLE PRECISION,
    last_dead_at DOUBLE PRECISION,
    alerted TEXT NOT NULL DEFAULT ''
);

-- Rule match counts per hour (migration 0008), sharded by connection so concurrent accepts
-- never wait on one row lock; readers sum the shards of the hours within the retention.
CREATE TABLE rule_stats (
    rule TEXT NOT NULL,
    hour BIGINT NOT NULL,
    shard INTEGER NOT NULL,
    matched BIGINT NOT NULL DEFAULT 0,
    last_matched_at DOUBLE PRECISION,
    PRIMARY KEY (rule, hour, shard)
);

-- Sync API sources (migration 0003): continuation token and the polling lease per source.
CREATE TABLE source_state (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL DEFAULT '',
    token TEXT,
    owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL
);

-- An event's field for the admin's search (queries.sql: search_deliveries), NULL when the stored
-- event is not a JSON object (a row written by hand or by an older version must not fail a
-- search with a cast error).
CREATE FUNCTION bridge_event_field(event TEXT, field TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN event::jsonb ->> field;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
