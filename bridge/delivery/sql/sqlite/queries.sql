-- name: upsert_latest
-- A notification about an object: new unless it repeats the object's latest (then no row
-- changes: rowcount 0); a new one becomes the latest, with the request's run for the object.
INSERT INTO object_latest
    (webhook, object_id, language, slot, content_key, last_modified, received_at, run)
VALUES (:object_webhook, :object_id, :object_language, :object_slot, :content_key,
        :last_modified, :received_at, :object_run)
ON CONFLICT (webhook, object_id, language, slot) DO UPDATE
SET content_key = excluded.content_key, last_modified = excluded.last_modified,
    received_at = excluded.received_at, run = excluded.run
WHERE object_latest.content_key <> excluded.content_key;

-- name: repeats_latest_run
-- Whether a request's notifications about an object repeat, in order, those of the request
-- that made its latest (a retry of that request): then each of them is a redelivery.
SELECT 1 FROM object_latest
WHERE webhook = :object_webhook AND object_id = :object_id AND language = :object_language
  AND slot = :object_slot AND run = :object_run;

-- name: insert_notification
-- Stored under its content key (a notification without an object: ignored when that key is
-- stored already, today's dedupe) or, when an object went back to an earlier state whose
-- notification is still stored, under the content key and ':' and its own seq (the next one
-- AUTOINCREMENT hands out). Returns the stored key, or no row for a redelivery.
INSERT OR IGNORE INTO notifications
    (key, content_key, webhook, format, received_at, request_id, raw, events, rules, summary)
VALUES (CASE WHEN :object_id IS NULL
                  OR NOT EXISTS (SELECT 1 FROM notifications WHERE key = :content_key)
             THEN :content_key
             ELSE :content_key || ':' || (1 + coalesce(
                 (SELECT seq FROM sqlite_sequence WHERE name = 'notifications'), 0))
        END,
        :content_key, :webhook, :format, :received_at, :request_id, :raw, :events, :rules,
        :summary)
RETURNING key;

-- name: prune_latest
-- After prune_notifications: an object's latest older than `before` goes unless its
-- notification is still kept (a job needs it), so that one stays recognised as long as it is.
DELETE FROM object_latest
WHERE received_at < :before
  AND content_key NOT IN (SELECT content_key FROM notifications WHERE received_at < :before);

-- name: insert_job
INSERT INTO jobs
    (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary, state,
     created_at, due_at)
VALUES (:action, :rule, :notification_key, :event, :inputs, :inputs_hash, :request_id, :summary,
        'pending', :now, :now);

-- name: set_alerted
UPDATE actions SET alerted = :alerted WHERE name = :action;

-- name: prune_attempts
DELETE FROM attempts WHERE job_id IN
    (SELECT id FROM jobs WHERE state = 'succeeded' AND finished_at < :before);

-- name: prune_rule_stats
-- The rule counts of hours that ended before `before` (their matches are past the retention).
DELETE FROM rule_stats WHERE hour < CAST(:before / 3600 AS INTEGER);

-- name: prune_jobs
DELETE FROM jobs WHERE state = 'succeeded' AND finished_at < :before;

-- name: lock_prunable_notifications
-- The notifications prune may delete (the write lock is held: no replay inserts meanwhile).
SELECT key FROM notifications
WHERE received_at < :before
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_key = notifications.key);

-- name: prune_notifications
DELETE FROM notifications
WHERE key IN (SELECT value FROM json_each(:keys))
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_key = notifications.key);

-- name: action_counts
-- Per action, from indexes only, never a pass over every job's row (at a million jobs that took
-- 1.8 s, and /metrics, the overview and `bridge status` read this): jobs by state from the
-- queue index; the oldest waiting job and retries running from the unfinished jobs; failed
-- attempts from the jobs that ever failed (jobs_failed); the last attempt from the action's row.
WITH states AS (
    SELECT action, state, count(*) AS n FROM jobs GROUP BY action, state
),
unfinished AS (
    SELECT action,
           min(CASE WHEN state IN ('pending', 'retrying') THEN created_at END)
               AS oldest_pending_at,
           sum(state = 'running' AND failures > 0) AS retries_running
    FROM jobs WHERE state IN ('pending', 'running', 'retrying') GROUP BY action
),
failed AS (
    -- INDEXED BY: else the planner walks the queue index by action (every job) to skip a sort
    SELECT action, sum(failures) AS failed_attempts
    FROM jobs INDEXED BY jobs_failed WHERE failures > 0 GROUP BY action
),
counts AS (
    SELECT action,
           sum(CASE WHEN state = 'pending' THEN n ELSE 0 END) AS pending,
           sum(CASE WHEN state = 'running' THEN n ELSE 0 END) AS running,
           sum(CASE WHEN state = 'retrying' THEN n ELSE 0 END) AS retrying,
           sum(CASE WHEN state = 'succeeded' THEN n ELSE 0 END) AS succeeded,
           sum(CASE WHEN state = 'dead' THEN n ELSE 0 END) AS dead
    FROM states GROUP BY action
)
SELECT c.action, c.pending, c.running, c.retrying, c.succeeded, c.dead,
       coalesce(f.failed_attempts, 0) AS failed_attempts,
       CASE WHEN a.last_success_at IS NULL THEN a.last_failure_at
            WHEN a.last_failure_at IS NULL THEN a.last_success_at
            ELSE max(a.last_success_at, a.last_failure_at) END AS last_attempt_at,
       u.oldest_pending_at, coalesce(u.retries_running, 0) AS retries_running
FROM counts AS c
LEFT JOIN unfinished AS u ON u.action = c.action
LEFT JOIN failed AS f ON f.action = c.action
LEFT JOIN actions AS a ON a.name = c.action;

-- name: actions
SELECT name, enabled, last_success_at, failing_since, last_dead_at FROM actions ORDER BY name;

-- name: deliveries
-- With a failures filter, `failed_deliveries`: the same over the partial index of the jobs
-- that ever failed (this one walks every job newest first, and failures may be rare).
-- variant: failed_deliveries: (:filter = 'all' OR failures > 0) -> failures > 0
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures
FROM jobs
WHERE (:action IS NULL OR action = :action)
  AND (created_at >= :since OR state <> 'succeeded')
  AND (:filter = 'all' OR failures > 0)
  AND (:filter <> 'active_failures' OR state <> 'succeeded')
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: batch_jobs
-- The jobs delivered in one call (one batch_id), oldest first: by index jobs_batch.
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures
FROM jobs WHERE batch_id = :batch_id ORDER BY id LIMIT :limit;

-- name: batch_size
SELECT count(*) FROM jobs WHERE batch_id = :batch_id;

-- name: rule_matches
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures
FROM jobs WHERE rule = :rule ORDER BY id DESC LIMIT :limit;

-- name: probe_read
-- /readyz: the cheapest read that reaches the database (one row of a small table); never a
-- count over jobs, which at a million of them took longer than the probe's timeout.
SELECT version FROM schema_version ORDER BY version DESC LIMIT 1;

-- name: probe_write
-- /readyz: a real write (the newest migration's row rewritten as it is), committed like any other.
UPDATE schema_version SET applied_at = applied_at
WHERE version = (SELECT max(version) FROM schema_version);

-- name: job
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures,
       notification_key, request_id, inputs, event
FROM jobs WHERE id = :id;

-- name: job_notification_raw
SELECT raw FROM notifications WHERE key = :key;

-- name: job_attempts
SELECT number, started_at, finished_at, outcome, status, response, error, delivery_id, request
FROM attempts WHERE job_id = :id ORDER BY number;

-- name: job_batch
SELECT id, batch_id, state FROM jobs WHERE id = :id;

-- name: oldest_failed_job
SELECT id, batch_id, state FROM jobs
WHERE action = :action AND state IN ('retrying', 'dead')
ORDER BY id LIMIT 1;

-- name: restart_job
UPDATE jobs
SET state = 'retrying', due_at = :now, retry_index = 0, first_failure_at = NULL,
    finished_at = NULL
WHERE id = :id AND state IN ('retrying', 'dead');

-- name: restart_batch
UPDATE jobs
SET state = 'retrying', due_at = :now, retry_index = 0, first_failure_at = NULL,
    finished_at = NULL
WHERE batch_id = :batch_id AND state IN ('retrying', 'dead');

-- name: set_enabled
INSERT INTO actions (name, enabled) VALUES (:action, :enabled)
ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled;

-- name: action_enabled
-- No row: no job was ever created for the action, nor was it ever disabled.
SELECT enabled FROM actions WHERE name = :action;

-- name: notifications
-- Newest first. A payload longer than :raw_chars characters is left out of the page (raw NULL;
-- raw_chars says how long it is, and `notification` reads it whole), so that a page holds at
-- most its rows times that, not 5 MiB a row (summaries are cut when stored).
SELECT key, webhook, received_at, request_id, summary, rules,
       CASE WHEN length(raw) <= :raw_chars THEN raw END AS raw, length(raw) AS raw_chars
FROM notifications ORDER BY seq DESC LIMIT :limit OFFSET :offset;

-- name: notification
SELECT key, webhook, received_at, request_id, summary, rules, raw, length(raw) AS raw_chars
FROM notifications WHERE key = :key;

-- name: stored_notifications
SELECT seq, received_at, key, webhook, format, raw, events
FROM notifications
WHERE received_at >= :since AND seq > :after_seq
ORDER BY seq LIMIT :limit;

-- name: count_notifications
SELECT count(*) FROM notifications WHERE received_at >= :since;

-- name: claim_source
-- Sync API sources (bridge/sources): the lease is taken when free, expired or already ours.
INSERT INTO source_state (name, owner, lease_expires_at, updated_at)
VALUES (:source, :owner, :expires_at, :now)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,
                                 lease_expires_at = excluded.lease_expires_at
WHERE source_state.owner IS NULL
   OR source_state.owner = excluded.owner
   OR source_state.lease_expires_at < :now
RETURNING scope, token;

-- name: save_source
UPDATE source_state
SET scope = :scope, token = :token, lease_expires_at = :expires_at, updated_at = :now
WHERE name = :source AND owner = :owner;

-- name: release_source
UPDATE source_state SET owner = NULL, lease_expires_at = NULL
WHERE name = :source AND owner = :owner;

-- name: source_leases
-- Which owner holds each source's lease now (the admin's Sources cards, on every replica).
SELECT name, owner, lease_expires_at FROM source_state
WHERE owner IS NOT NULL AND lease_expires_at >= :now;

-- name: object_versions
-- The Sync API source: each webhook's latest notification about one object.
SELECT webhook, last_modified, received_at FROM object_latest
WHERE object_id = :object_id AND language = :language AND slot = :slot;

-- name: insert_jobs
-- Jobs without dedupe (replay, alerts, follow-ups): one array per column, in input order.
-- Each array but the first is materialized so the join finds its rows by an automatic index
-- on `key`: joined straight, json_each has no index and the planner scanned the arrays as a
-- cross product before filtering on `key` (about N^5 rows: 50 jobs took 17 s, a replay of
-- 5,000 never finished and held the write lock and the event loop meanwhile).
-- INSERT comes first: Python's sqlite3 counts the rows a statement changed only when it begins
-- with INSERT (one that begins with WITH reports -1), and the count is what the store returns.
INSERT INTO jobs
    (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary, state,
     created_at, due_at)
WITH
    r AS MATERIALIZED (SELECT key, value FROM json_each(:rules)),
    k AS MATERIALIZED (SELECT key, value FROM json_each(:notification_keys)),
    e AS MATERIALIZED (SELECT key, value FROM json_each(:events)),
    i AS MATERIALIZED (SELECT key, value FROM json_each(:inputs)),
    h AS MATERIALIZED (SELECT key, value FROM json_each(:inputs_hashes)),
    s AS MATERIALIZED (SELECT key, value FROM json_each(:summaries))
SELECT a.value, r.value, k.value, e.value, i.value, h.value, :request_id, s.value, 'pending',
       :now, :now
FROM json_each(:actions) AS a
JOIN r ON r.key = a.key
JOIN k ON k.key = a.key
JOIN e ON e.key = a.key
JOIN i ON i.key = a.key
JOIN h ON h.key = a.key
JOIN s ON s.key = a.key
ORDER BY a.key;

-- name: insert_replayed_jobs
-- insert_jobs for a replay, whose jobs name stored notifications (pruning.py): a job is created
-- only if its notification is still stored, in the write transaction that prune also needs.
INSERT INTO jobs
    (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary, state,
     created_at, due_at)
WITH
    r AS MATERIALIZED (SELECT key, value FROM json_each(:rules)),
    k AS MATERIALIZED (SELECT key, value FROM json_each(:notification_keys)),
    e AS MATERIALIZED (SELECT key, value FROM json_each(:events)),
    i AS MATERIALIZED (SELECT key, value FROM json_each(:inputs)),
    h AS MATERIALIZED (SELECT key, value FROM json_each(:inputs_hashes)),
    s AS MATERIALIZED (SELECT key, value FROM json_each(:summaries))
SELECT a.value, r.value, k.value, e.value, i.value, h.value, :request_id, s.value, 'pending',
       :now, :now
FROM json_each(:actions) AS a
JOIN r ON r.key = a.key
JOIN k ON k.key = a.key
JOIN e ON e.key = a.key
JOIN i ON i.key = a.key
JOIN h ON h.key = a.key
JOIN s ON s.key = a.key
WHERE EXISTS (SELECT 1 FROM notifications AS n WHERE n.key = k.value)
ORDER BY a.key;

-- name: share_action_order
-- One writer at a time: jobs are committed in id order, nothing to wait for (see PostgreSQL).
SELECT count(*) FROM json_each(:actions);

-- name: ensure_actions
INSERT OR IGNORE INTO actions (name) SELECT DISTINCT value FROM json_each(:actions);

-- name: begin_claim
-- The write lock is the claim lock, and the order lock too (`:in_order`, PostgreSQL's: no
-- insert commits meanwhile). Expired leases given back; the action's row, made if needed,
-- says whether it is enabled.
INSERT OR IGNORE INTO actions (name) VALUES (:action);
UPDATE jobs
SET state = CASE WHEN failures > 0 THEN 'retrying' ELSE 'pending' END,
    claimed_by = NULL, lease_until = NULL
WHERE action = :action AND state = 'running' AND lease_until <= :now;
SELECT enabled FROM actions WHERE name = :action;

-- name: count_running
SELECT count(*) FROM jobs WHERE action = :action AND state = 'running';

-- name: claim_candidates
-- The first `limit` waiting jobs of a debounced fifo action, in order: the head decides.
SELECT id, batch_id, inputs_hash, created_at, due_at
FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying')
ORDER BY id
LIMIT :limit;

-- name: claim_candidates_unordered
-- A debounced action without order: the first `limit` jobs of its windows (jobs in no batch
-- yet), and every job of the `batches` oldest batches due now (retried or given back). Read
-- apart, so that a batch not due, as large as `limit`, hides neither a due one nor a window.
-- `+batch_id`: by jobs_queue, not jobs_batch (whose NULL entries are every other job).
SELECT id, batch_id, inputs_hash, created_at, due_at FROM (
    SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
    WHERE action = :action AND state IN ('pending', 'retrying') AND +batch_id IS NULL
    ORDER BY id
    LIMIT :limit
) AS windows
UNION ALL
SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying') AND batch_id IN (
    SELECT batch_id FROM jobs
    WHERE action = :action AND state IN ('pending', 'retrying') AND batch_id IS NOT NULL
      AND due_at <= :now
    GROUP BY batch_id
    ORDER BY min(id)
    LIMIT :batches)
ORDER BY id;

-- name: claim_head
-- Without debounce only the first `limit` waiting jobs matter (fifo: the head, due or not;
-- none: those due now), each with the rest of its batch. Each state is read in id order from
-- jobs_queue and the two merged, so a claim reads a few rows, not the whole backlog (`IN` over
-- both states would sort every waiting job); `+` keeps the batch lookup on jobs_batch.
WITH head AS (
    SELECT id, batch_id FROM (
        SELECT * FROM (
            SELECT id, batch_id FROM jobs
            WHERE action = :action AND state = 'pending' AND (:fifo OR due_at <= :now)
            ORDER BY id LIMIT :limit)
        UNION ALL
        SELECT * FROM (
            SELECT id, batch_id FROM jobs
            WHERE action = :action AND state = 'retrying' AND (:fifo OR due_at <= :now)
            ORDER BY id LIMIT :limit)
    )
    ORDER BY id LIMIT :limit
)
SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
WHERE id IN (SELECT id FROM head)
UNION
SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
WHERE batch_id IN (SELECT batch_id FROM head WHERE batch_id IS NOT NULL)
  AND +action = :action AND +state IN ('pending', 'retrying')
ORDER BY id;

-- name: next_due
SELECT min(due_at) FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying') AND due_at > :now;

-- name: window_summary
-- A debounced action's waiting jobs per batch or window, summarised.
SELECT min(id) AS first_id, max(id) AS last_id, batch_id, inputs_hash,
       min(created_at) AS first_created, max(created_at) AS last_created,
       min(due_at) AS first_due, max(due_at) AS last_due, count(*) AS jobs
FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying')
GROUP BY batch_id, inputs_hash
ORDER BY first_id;

-- name: mark_running
-- Every unit of a claim in one statement: :ids and :batch_ids are parallel arrays (each job's
-- unit, kept when the job already has one: a retried batch keeps its delivery id).
-- Driven by the ids (`+state` keeps the planner off the state index: it would visit every
-- waiting job of the backlog, reading the arrays for each, 14 ms for a fifo claim of 64).
WITH units AS (
    SELECT value AS id, json_extract(:batch_ids, '$[' || key || ']') AS batch_id
    FROM json_each(:ids)
)
UPDATE jobs
SET state = 'running', claimed_by = :worker, lease_until = :lease_until,
    batch_id = coalesce(jobs.batch_id, units.batch_id)
FROM units
WHERE jobs.id = units.id AND +jobs.state IN ('pending', 'retrying');
SELECT j.id, j.action, j.rule, j.notification_key, j.event, j.inputs, j.attempts,
       j.retry_index, j.first_failure_at, j.created_at, j.request_id, j.batch_id, n.raw
FROM jobs j LEFT JOIN notifications n ON n.key = j.notification_key
WHERE j.id IN (SELECT value FROM json_each(:ids)) AND j.claimed_by = :worker
  AND +j.state = 'running' AND j.lease_until = :lease_until
ORDER BY j.id;

-- name: held_jobs
-- Which jobs of a group of finished calls are still running under a claim, and whose: an
-- attempt counts only while its worker holds its jobs (`+state`: looked up by id).
SELECT id, claimed_by, failures FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND +state = 'running';

-- name: record_jobs
-- The attempts of one group of finished calls (Store.record), each query run once per batch
-- (executemany) in the order they finished: the jobs (only while this worker still holds
-- them), then the attempt rows; then `set_episode`, once per action.
UPDATE jobs
SET state = :state, attempts = attempts + 1, failures = failures + :failed,
    retry_index = :retry_index, first_failure_at = :first_failure_at,
    due_at = coalesce(:due_at, due_at), last_attempt_at = :finished_at,
    last_status = :status, last_response = :response, last_error = :error,
    claimed_by = NULL, lease_until = NULL,
    finished_at = CASE WHEN :state IN ('succeeded', 'dead') THEN :finished_at END
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'running' AND claimed_by = :worker;

-- name: record_attempts
-- Both arrays materialized, as in insert_jobs: a json_each joined straight is scanned once per
-- row of the other (a debounced batch of 10,000 jobs: 10^8 rows, seconds with the write lock).
WITH
    j AS MATERIALIZED (SELECT key, value FROM json_each(:job_ids)),
    n AS MATERIALIZED (SELECT key, value FROM json_each(:numbers))
INSERT OR REPLACE INTO attempts
    (job_id, number, delivery_id, started_at, finished_at, outcome, status, response, error,
     request)
SELECT j.value, n.value, :delivery_id, :started_at, :finished_at, :outcome, :status, :response,
       :error, :request
FROM j JOIN n ON n.key = j.key;

-- name: failing_elsewhere
-- Whether a job of the action that the group being recorded does not hold is still failing
-- (waiting for its retry, or being retried): a success then leaves its episode open
-- (episodes.py).
SELECT EXISTS (
    SELECT 1 FROM jobs
    WHERE action = :action AND state IN ('retrying', 'running') AND failures > 0
      AND id NOT IN (SELECT value FROM json_each(:ids)));

-- name: set_episode
-- The action's row after a group of its attempts (episodes.py worked the episode out).
UPDATE actions
SET last_success_at = coalesce(:last_success_at, last_success_at),
    last_failure_at = coalesce(:last_failure_at, last_failure_at),
    failing_since = :failing_since,
    last_dead_at = coalesce(:last_dead_at, last_dead_at)
WHERE name = :action;

-- name: lock_episode
-- The write lock is held: no other writer can raise the same alert meanwhile.
SELECT failing_since, alerted FROM actions WHERE name = :action;

-- name: kill_unreadable
-- A claimed job whose stored row no longer reads (an event or inputs column that is not JSON:
-- written by hand, by an older version): dead with the reason, kept, instead of failing its
-- action's every claim.
UPDATE jobs
SET state = 'dead', claimed_by = NULL, lease_until = NULL, last_error = :error,
    finished_at = :now
WHERE id = :id AND state = 'running';

-- name: release_jobs
UPDATE jobs
SET state = CASE WHEN failures > 0 THEN 'retrying' ELSE 'pending' END,
    claimed_by = NULL, lease_until = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'running' AND claimed_by = :worker;

-- name: rule_stats
-- Notifications each rule matched in the hours within the retention (`:since_hour` on).
SELECT rule, sum(matched) AS matched, max(last_matched_at) AS last_matched_at
FROM rule_stats WHERE hour >= :since_hour GROUP BY rule ORDER BY rule;

-- == issue 12 (operator views: search, series) ============================================
-- name: search_deliveries
-- The delivery log searched: every condition is optional (NULL: not asked). Text is matched
-- case-insensitively: codename and item id whole, name part of it, q part of any of them (and
-- of the summary and request id); request id, rule and state exactly. An event column that is
-- not JSON (written by hand, by an older version) matches no event field instead of failing.
-- With a failures filter, `search_failed_deliveries`: over the jobs that ever failed alone.
-- variant: search_failed_deliveries: (:filter = 'all' OR failures > 0) -> failures > 0
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures
FROM jobs
WHERE (:action IS NULL OR action = :action)
  AND (created_at >= :retained OR state <> 'succeeded')
  AND (:filter = 'all' OR failures > 0)
  AND (:filter <> 'active_failures' OR state <> 'succeeded')
  AND (:rule IS NULL OR rule = :rule)
  AND (:state IS NULL OR state = :state)
  AND (:since IS NULL OR created_at >= :since)
  AND (:until IS NULL OR created_at <= :until)
  AND (:request_id IS NULL OR request_id = :request_id)
  AND (:codename IS NULL OR lower(CASE WHEN json_valid(event) THEN json_extract(event, '$.codename') END) = lower(:codename))
  AND (:item_id IS NULL OR lower(CASE WHEN json_valid(event) THEN json_extract(event, '$.id') END) = lower(:item_id))
  AND (:item_name IS NULL OR instr(lower(coalesce(CASE WHEN json_valid(event) THEN json_extract(event, '$.name') END, '')), lower(:item_name)) > 0)
  AND (:q IS NULL
       OR instr(lower(summary), lower(:q)) > 0
       OR instr(lower(coalesce(request_id, '')), lower(:q)) > 0
       OR instr(lower(coalesce(CASE WHEN json_valid(event) THEN json_extract(event, '$.id') END, '')), lower(:q)) > 0
       OR instr(lower(coalesce(CASE WHEN json_valid(event) THEN json_extract(event, '$.name') END, '')), lower(:q)) > 0
       OR instr(lower(coalesce(CASE WHEN json_valid(event) THEN json_extract(event, '$.codename') END, '')), lower(:q)) > 0)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: series_delivered
-- Jobs delivered per action per bucket (bucket = whole buckets since :since).
SELECT action, CAST((finished_at - :since) / :bucket_s AS INTEGER) AS bucket, count(*) AS n
FROM jobs
WHERE state = 'succeeded' AND finished_at >= :since AND finished_at < :until
GROUP BY action, bucket;

-- name: series_failed
-- Failed attempts per action per bucket they started in.
SELECT j.action, CAST((a.started_at - :since) / :bucket_s AS INTEGER) AS bucket, count(*) AS n
FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
WHERE a.outcome <> 'succeeded' AND a.started_at >= :since AND a.started_at < :until
GROUP BY j.action, bucket;

-- name: series_queue_changes
-- The queue's changes per action and bucket, for views.py to add up: `joined` jobs created in
-- the bucket (bucket -1: created by :since, still waiting then), `left` jobs that succeeded or
-- died in it. Only the jobs that can be waiting at some bucket's end are read: the unfinished
-- ones and those finished after :since, both from jobs_finished_at alone (every state is
-- named so the index serves both), never every job (at a million jobs the join of buckets and
-- jobs this replaced took 7-10 s). A job counts as waiting at a bucket's end `e` (the bucket's
-- end, or :now) when created_at <= e < finished_at: bucket k holds the times in
-- (:since + k * :bucket_s, :since + (k + 1) * :bucket_s], so a time on an end is in the bucket
-- it ends (`ceil` written with CAST: SQLite has no ceil without its math functions).
WITH waiting AS (
    SELECT action, created_at, finished_at FROM jobs
    WHERE state IN ('pending', 'running', 'retrying', 'succeeded', 'dead')
      AND finished_at IS NULL AND created_at <= :now
    UNION ALL
    SELECT action, created_at, finished_at FROM jobs
    WHERE state IN ('pending', 'running', 'retrying', 'succeeded', 'dead')
      AND finished_at > :since AND created_at <= :now
),
changes AS (
    SELECT action, (created_at - :since) / :bucket_s AS x, 1 AS joined, 0 AS left_ FROM waiting
    UNION ALL
    SELECT action, (finished_at - :since) / :bucket_s AS x, 0, 1 FROM waiting
    WHERE finished_at <= :now
)
SELECT action,
       CASE WHEN x <= 0 THEN -1
            WHEN x = CAST(x AS INTEGER) THEN CAST(x AS INTEGER) - 1
            ELSE CAST(x AS INTEGER) END AS bucket,
       sum(joined) AS joined, sum(left_) AS left
FROM changes GROUP BY action, bucket;

-- name: restart_jobs
-- Bulk retry: the listed jobs that are retrying or dead, with the jobs delivered in one call
-- with them (a call is retried whole), run again now with their schedules restarted.
UPDATE jobs
SET state = 'retrying', due_at = :now, retry_index = 0, first_failure_at = NULL,
    finished_at = NULL
WHERE state IN ('retrying', 'dead')
  AND (id IN (SELECT value FROM json_each(:ids))
       OR batch_id IN (SELECT batch_id FROM jobs
                       WHERE id IN (SELECT value FROM json_each(:ids)) AND batch_id IS NOT NULL))
RETURNING id;
