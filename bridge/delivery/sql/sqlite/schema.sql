-- The whole schema as of the latest migration (a test proves that they agree).

-- `key` is the stored notification's own key (jobs reference it); `content_key` the dedupe key
-- it arrived with (Notification.key), stored more than once when an object returns to it.
CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    content_key TEXT NOT NULL,
    webhook TEXT,
    format TEXT NOT NULL,
    received_at REAL NOT NULL,
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
    received_at REAL NOT NULL,
    run TEXT,
    PRIMARY KEY (webhook, object_id, language, slot)
);
CREATE INDEX object_latest_object ON object_latest (object_id, language, slot);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    rule TEXT NOT NULL,
    notification_key TEXT,
    event TEXT NOT NULL,
    inputs TEXT NOT NULL,
    inputs_hash TEXT NOT NULL,
    request_id TEXT,
    summary TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    batch_id TEXT,
    claimed_by TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_index INTEGER NOT NULL DEFAULT 0,
    first_failure_at REAL,
    last_attempt_at REAL,
    last_status INTEGER,
    last_response TEXT,
    last_error TEXT,
    finished_at REAL
);
CREATE INDEX jobs_queue ON jobs (action, state, id);
CREATE INDEX jobs_batch ON jobs (batch_id);
CREATE INDEX jobs_notification ON jobs (notification_key);
CREATE INDEX jobs_rule ON jobs (rule, id);
CREATE INDEX jobs_finished_at ON jobs (state, finished_at, action, created_at);
CREATE INDEX jobs_failed ON jobs (id, action, failures) WHERE failures > 0;

CREATE TABLE attempts (
    job_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    delivery_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    error TEXT,
    request TEXT,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX attempts_failed_started ON attempts (started_at) WHERE outcome <> 'succeeded';

CREATE TABLE actions (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1,
    last_success_at REAL,
    last_failure_at REAL,
    failing_since REAL,
    last_dead_at REAL,
    alerted TEXT NOT NULL DEFAULT ''
);

-- Rule match counts per hour (migration 0008): a stored notification adds one per rule it matched (the trigger); the rules page sums the
-- hours within the retention, and the prune deletes older ones.
CREATE TABLE rule_stats (
    rule TEXT NOT NULL,
    hour INTEGER NOT NULL,
    matched INTEGER NOT NULL DEFAULT 0,
    last_matched_at REAL,
    PRIMARY KEY (rule, hour)
);
CREATE TRIGGER notifications_count_rule_matches AFTER INSERT ON notifications
BEGIN
    INSERT INTO rule_stats (rule, hour, matched, last_matched_at)
    SELECT value, CAST(NEW.received_at / 3600 AS INTEGER), 1, NEW.received_at
    FROM json_each(CASE WHEN json_valid(NEW.rules) THEN NEW.rules ELSE '[]' END) WHERE true
    ON CONFLICT (rule, hour) DO UPDATE
    SET matched = matched + 1, last_matched_at = excluded.last_matched_at;
END;

-- Sync API sources (migration 0003): continuation token and the polling lease per source.
CREATE TABLE source_state (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL DEFAULT '',
    token TEXT,
    owner TEXT,
    lease_expires_at REAL,
    updated_at REAL NOT NULL
);
