-- Dedupe by the latest notification per object, not by every key seen (issue 10, item 2):
-- a republish whose body equals an earlier publish is a new change, so one content key may be
-- stored more than once. `key` stays unique but is now the stored notification's own key
-- (jobs reference it); `content_key` is the dedupe key the notification arrived with.
ALTER TABLE notifications ADD COLUMN content_key TEXT;
UPDATE notifications SET content_key = key;
ALTER TABLE notifications ALTER COLUMN content_key SET NOT NULL;

-- The latest notification accepted per object and webhook ('' for a null part): a notification
-- about an object is a redelivery only if it repeats this one.
CREATE TABLE object_latest (
    webhook TEXT NOT NULL,
    object_id TEXT NOT NULL,
    language TEXT NOT NULL,
    slot TEXT NOT NULL,
    content_key TEXT NOT NULL,
    last_modified TEXT,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (webhook, object_id, language, slot)
);
CREATE INDEX object_latest_object ON object_latest (object_id, language, slot);

-- Notifications already stored become their objects' latest, so a redelivery of one received
-- before the upgrade is still recognised.
INSERT INTO object_latest
    (webhook, object_id, language, slot, content_key, last_modified, received_at)
SELECT DISTINCT ON (webhook, object_id, language, slot)
       webhook, object_id, language, slot, content_key, last_modified, received_at
FROM (
    SELECT coalesce(webhook, '') AS webhook, e -> 0 ->> 'id' AS object_id,
           coalesce(e -> 0 ->> 'language', '') AS language,
           coalesce(e -> 0 ->> 'delivery_slot', '') AS slot,
           content_key, e -> 0 ->> 'last_modified' AS last_modified, received_at, seq
    FROM notifications, LATERAL (SELECT events::jsonb AS e) AS parsed
    WHERE jsonb_typeof(e) = 'array' AND jsonb_array_length(e) = 1
      AND jsonb_typeof(e -> 0 -> 'id') = 'string'
) AS stored
ORDER BY webhook, object_id, language, slot, seq DESC;
