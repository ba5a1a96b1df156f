-- Legacy dedupe keys name the webhook that received them, as current-format keys (a hash of
-- the webhook and the content) always did: 'legacy:<message id>...' becomes
-- 'legacy:<webhook>:<message id>...', the webhook's '%' and ':' percent-encoded
-- (bridge/legacy.py: key_webhook). Rewritten where they are kept (a notification's key and
-- content key, its jobs' notification_key, an object's latest content key), so that a
-- redelivery of a message received before the upgrade is still recognised. Every legacy key
-- starts 'legacy:' (a message without an id has a hash of the webhook and body for its id);
-- current-format and Sync API keys are hashes and are left alone.
UPDATE jobs SET notification_key = (
    SELECT 'legacy:' || replace(replace(coalesce(n.webhook, ''), '%', '%25'), ':', '%3A') || ':'
           || substr(n.key, 8)
    FROM notifications n WHERE n.key = jobs.notification_key
)
WHERE notification_key LIKE 'legacy:%'
  AND EXISTS (SELECT 1 FROM notifications n
              WHERE n.key = jobs.notification_key AND n.format = 'legacy');
UPDATE object_latest
SET content_key = 'legacy:' || replace(replace(coalesce(webhook, ''), '%', '%25'), ':', '%3A')
                  || ':' || substr(content_key, 8)
WHERE content_key LIKE 'legacy:%';
UPDATE notifications
SET key = 'legacy:' || replace(replace(coalesce(webhook, ''), '%', '%25'), ':', '%3A') || ':'
          || substr(key, 8),
    content_key = 'legacy:' || replace(replace(coalesce(webhook, ''), '%', '%25'), ':', '%3A')
                  || ':' || substr(content_key, 8)
WHERE format = 'legacy' AND content_key LIKE 'legacy:%';
