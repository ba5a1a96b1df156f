-- The Sync API sources' state: the continuation token a restart resumes from, and a lease
-- (owner, expiry) so that of several replicas only one polls a source at a time.
CREATE TABLE source_state (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL DEFAULT '',
    token TEXT,
    owner TEXT,
    lease_expires_at REAL,
    updated_at REAL NOT NULL
);
