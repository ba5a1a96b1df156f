-- Dedupe by the latest notification per object, not by every key seen (issue 10, item 2):
-- a republish whose body equals an earlier publish is a new change, so one content key may be
-- stored more than once. `key` stays unique but is now the stored notification's own key
-- (jobs reference it); `content_key` is the dedupe key the notification arrived with.
-- SQLite cannot change a table's columns in place: the table is rebuilt under its own name.
ALTER TABLE notifications RENAME TO notifications_0001;
DROP INDEX notifications_received_at;

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

INSERT INTO notifications
    (seq, key, content_key, webhook, format, received_at, request_id, raw, events, rules,
     summary)
SELECT seq, key, key, webhook, format, received_at, request_id, raw, events, rules, summary
FROM notifications_0001 ORDER BY seq;

-- Sequence numbers of pruned notifications are not handed out again (sqlite_sequence has no
-- unique name: one row for the new table, created here if the copy did not create it).
INSERT INTO sqlite_sequence (name, seq)
SELECT 'notifications', seq FROM sqlite_sequence
WHERE name = 'notifications_0001'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'notifications');
UPDATE sqlite_sequence
SET seq = (SELECT max(seq) FROM sqlite_sequence
           WHERE name IN ('notifications', 'notifications_0001'))
WHERE name = 'notifications';

DROP TABLE notifications_0001;

-- The latest notification accepted per object and webhook ('' for a null part): a notification
-- about an object is a redelivery only if it repeats this one.
CREATE TABLE object_latest (
    webhook TEXT NOT NULL,
    object_id TEXT NOT NULL,
    language TEXT NOT NULL,
    slot TEXT NOT NULL,
    content_key TEXT NOT NULL,
    last_modified TEXT,
    received_at REAL NOT NULL,
    PRIMARY KEY (webhook, object_id, language, slot)
);
CREATE INDEX object_latest_object ON object_latest (object_id, language, slot);

-- Notifications already stored become their objects' latest, so a redelivery of one received
-- before the upgrade is still recognised (rows in seq order: the last one per object wins).
INSERT INTO object_latest
    (webhook, object_id, language, slot, content_key, last_modified, received_at)
SELECT coalesce(webhook, ''), json_extract(events, '$[0].id'),
       coalesce(json_extract(events, '$[0].language'), ''),
       coalesce(json_extract(events, '$[0].delivery_slot'), ''),
       content_key, json_extract(events, '$[0].last_modified'), received_at
FROM notifications
WHERE json_array_length(events) = 1 AND json_type(events, '$[0].id') = 'text'
ORDER BY seq
ON CONFLICT (webhook, object_id, language, slot) DO UPDATE
SET content_key = excluded.content_key, last_modified = excluded.last_modified,
    received_at = excluded.received_at;
