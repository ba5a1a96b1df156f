-- PostgreSQL queries. `:name` parameters are turned into `$n` by postgres_db.bind(); arrays
-- are unnested so that one statement writes a whole request, in input order.

-- name: accept
-- One request in one statement (one round trip, atomic on its own): new notifications, the
-- jobs of the new ones and rule counters (the other replicas are woken after the commit, by
-- the connector's wake_others: a NOTIFY here made such commits wait for each other). The order lock
-- (see share_action_order) is taken before any job id is.
-- Dedupe (postgres_rows.accept_params decides what it can before the statement):
-- * `key`: a notification without an object is new unless its key is stored;
-- * `latest`: the object's only notification in the request is new unless it repeats the
--   object's latest (the upsert changes no row then). The upsert locks the object's row, so two
--   replicas receiving one notification at once agree: the second sees the first's row;
-- * `prior`: the first of several for one object: new unless it repeats the latest as it was
--   when the statement began; `new`: a later one (it differs from the one before it). Neither
--   is new when the object's notifications in the request repeat the run of the request that
--   made its latest (Kontent.ai retried that request; migration 0006). That is decided by the
--   upsert, not by the snapshot: it changes the object's row only for a run the row does not
--   hold yet, and it waits for a replica writing the same row, so of two replicas accepting
--   one retried request at once, the second finds the first's run and accepts none of it.
-- Each object's last notification in the request becomes its latest, with the request's run.
WITH ordered AS (
    SELECT count(pg_advisory_xact_lock_shared(hashtextextended('bridge.jobs:' || action, 0)))
        AS locks
    FROM unnest(:actions::text[]) AS a (action)
),
objects AS (
    SELECT *
    FROM unnest(:obj_webhooks::text[], :obj_ids::text[], :obj_languages::text[],
                :obj_slots::text[], :obj_keys::text[], :obj_modified::text[],
                :obj_runs::text[])
         WITH ORDINALITY AS o (webhook, object_id, language, slot, content_key, last_modified,
                               run, ord)
),
latest AS (
    -- A run that is not a redelivery accepts something, even when its last notification
    -- repeats the latest (publish, unpublish, publish): the row then takes the new run.
    INSERT INTO object_latest
        (webhook, object_id, language, slot, content_key, last_modified, received_at, run)
    SELECT webhook, object_id, language, slot, content_key, last_modified, :now::float8, run
    FROM objects
    ORDER BY ord
    ON CONFLICT (webhook, object_id, language, slot) DO UPDATE
    SET content_key = excluded.content_key, last_modified = excluded.last_modified,
        received_at = excluded.received_at, run = excluded.run
    WHERE object_latest.content_key <> excluded.content_key
       OR (excluded.run IS NOT NULL AND object_latest.run IS DISTINCT FROM excluded.run)
    RETURNING webhook, object_id, language, slot
),
changed AS (
    SELECT o.ord FROM objects AS o JOIN latest AS l USING (webhook, object_id, language, slot)
),
candidates AS (
    SELECT n.*, nextval('notifications_seq_seq') AS seq
    FROM (
        SELECT n.*
        FROM unnest(:content_keys::text[], :webhooks::text[], :formats::text[], :raws::text[],
                    :note_events::text[], :note_rules::text[], :note_summaries::text[],
                    :note_objects::bigint[], :note_checks::text[], :note_copies::int[])
             WITH ORDINALITY AS n (content_key, webhook, format, raw, events, rules, summary,
                                   obj, check_, nth, ord)
        WHERE n.check_ = 'key'
           OR (n.check_ IN ('latest', 'new') AND n.obj IN (SELECT ord FROM changed))
           OR (n.check_ = 'prior' AND n.obj IN (SELECT ord FROM changed)
               AND n.content_key IS DISTINCT FROM (
                   SELECT l.content_key FROM object_latest AS l JOIN objects AS o
                       USING (webhook, object_id, language, slot)
                   WHERE o.ord = n.obj))
        ORDER BY n.ord
    ) AS n
),
new_notes AS (
    -- Stored under the content key, or, when an object went back to an earlier state whose
    -- notification is still stored, under the content key, ':' and its seq.
    INSERT INTO notifications
        (seq, key, content_key, webhook, format, received_at, request_id, raw, events, rules,
         summary)
    SELECT seq,
           CASE WHEN obj IS NULL
                     OR (nth = 1 AND NOT EXISTS (SELECT 1 FROM notifications AS s
                                                 WHERE s.key = c.content_key))
                THEN content_key ELSE content_key || ':' || seq END,
           content_key, webhook, format, :now::float8, :request_id::text, raw, events, rules,
           summary
    FROM candidates AS c
    ORDER BY ord
    ON CONFLICT (key) DO NOTHING
    RETURNING key, content_key
),
new_actions AS (
    INSERT INTO actions (name)
    SELECT unnest(:actions::text[])
    ON CONFLICT (name) DO NOTHING
),
new_jobs AS (
    INSERT INTO jobs
        (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary,
         state, created_at, due_at)
    SELECT j.action, j.rule, s.key, j.event, j.inputs, j.inputs_hash, :request_id::text,
           j.summary, 'pending', :now::float8, :now::float8
    FROM unnest(:job_actions::text[], :job_rules::text[], :job_keys::text[],
                :job_events::text[], :job_inputs::text[], :job_hashes::text[],
                :job_summaries::text[], :job_copies::int[])
         WITH ORDINALITY AS j (action, rule, content_key, event, inputs, inputs_hash, summary,
                               copy, ord)
    JOIN (SELECT content_key, min(key) AS key, count(*) AS copies
          FROM new_notes GROUP BY content_key) AS s
        USING (content_key)
    WHERE j.copy <= s.copies  -- the jobs of the copies accepted (records.job_occurrences)
      AND (SELECT locks FROM ordered) >= 0
    ORDER BY j.ord
    RETURNING id
),
matched AS (
    INSERT INTO rule_stats (rule, hour, shard, matched, last_matched_at)
    SELECT rule, floor(:now::float8 / 3600)::bigint, pg_backend_pid() % 16, count(*),
           :now::float8
    FROM unnest(:match_keys::text[], :match_rules::text[]) AS m (key, rule)
    WHERE m.key IN (SELECT content_key FROM new_notes)
    GROUP BY rule ORDER BY rule
    ON CONFLICT (rule, hour, shard) DO UPDATE
    SET matched = rule_stats.matched + excluded.matched,
        last_matched_at = excluded.last_matched_at
)
SELECT (SELECT count(*) FROM new_notes) AS accepted,
       (SELECT count(*) FROM new_jobs) AS jobs;

-- name: insert_jobs
INSERT INTO jobs
    (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary, state,
     created_at, due_at)
SELECT action, rule, notification_key, event, inputs, inputs_hash, :request_id::text, summary,
       'pending', :now::float8, :now::float8
FROM unnest(:actions::text[], :rules::text[], :notification_keys::text[], :events::text[],
            :inputs::text[], :inputs_hashes::text[], :summaries::text[])
     WITH ORDINALITY AS j (action, rule, notification_key, event, inputs, inputs_hash, summary,
                           ord)
ORDER BY ord;

-- name: insert_replayed_jobs
-- insert_jobs for a replay, whose jobs name stored notifications (pruning.py): a job is created
-- only if its notification is stored when this statement locks it, and the lock (FOR KEY SHARE,
-- held until COMMIT) keeps prune from deleting it meanwhile. A notification that a prune has
-- locked to delete is waited for, then skipped once deleted: its jobs are not created.
INSERT INTO jobs
    (action, rule, notification_key, event, inputs, inputs_hash, request_id, summary, state,
     created_at, due_at)
SELECT j.action, j.rule, j.notification_key, j.event, j.inputs, j.inputs_hash,
       :request_id::text, j.summary, 'pending', :now::float8, :now::float8
FROM unnest(:actions::text[], :rules::text[], :notification_keys::text[], :events::text[],
            :inputs::text[], :inputs_hashes::text[], :summaries::text[])
     WITH ORDINALITY AS j (action, rule, notification_key, event, inputs, inputs_hash, summary,
                           ord)
JOIN notifications AS n ON n.key = j.notification_key
ORDER BY j.ord
FOR KEY SHARE OF n;

-- name: share_action_order
-- Jobs get their ids from a sequence when inserted but become visible when committed, which
-- across replicas is not the same order. Writers of new jobs hold this lock shared (they do
-- not wait for each other) until they commit; a claimer takes it exclusively, so it waits for
-- every job with a smaller id to be committed before it picks an action's head.
SELECT count(pg_advisory_xact_lock_shared(hashtextextended('bridge.jobs:' || action, 0)))
FROM unnest(:actions::text[]) AS a (action);

-- name: ensure_actions
INSERT INTO actions (name)
SELECT DISTINCT unnest(:actions::text[]) ORDER BY 1
ON CONFLICT (name) DO NOTHING;

-- name: notify_jobs
SELECT pg_notify(:channel, :sender);

-- name: begin_claim
-- In one round trip: the claim lock (skipped when another replica holds it), then, for a fifo
-- action (`:in_order`), the order lock (waits for jobs still being inserted, so the head is
-- never a later job than one still committing), then expired leases given back. No row: skip.
-- An `ordering: none` claim takes no order lock: a job still committing is claimed by the next
-- claim, and waiting for it queued every accept of the action behind the claim (PostgreSQL
-- grants no shared lock past a waiting exclusive one): bench/soak.py received 126-201/s.
-- A fifo action with a job running under a live lease (another replica's sequence) has nothing
-- to claim: no row, and neither lock is taken. Every replica but the one calling claimed it at
-- each wake-up (each accept's NOTIFY), each claim queuing the accepts behind its order lock and
-- the caller's records behind its row lock: with 3 replicas receiving 80/s the fifo action
-- delivered 20-50 calls/s, 450/s once the load stopped.
WITH locked AS (
    SELECT enabled FROM actions
    WHERE name = :action
      AND NOT (:in_order::boolean AND EXISTS (
          SELECT 1 FROM jobs
          WHERE action = :action AND state = 'running' AND lease_until > :now))
    FOR UPDATE SKIP LOCKED
),
ordered AS (
    SELECT count(pg_advisory_xact_lock(hashtextextended('bridge.jobs:' || name, 0))) AS locks
    FROM actions WHERE name = :action AND EXISTS (SELECT 1 FROM locked) AND :in_order::boolean
),
expired AS (
    UPDATE jobs
    SET state = CASE WHEN failures > 0 THEN 'retrying' ELSE 'pending' END,
        claimed_by = NULL, lease_until = NULL
    WHERE action = :action AND state = 'running' AND lease_until <= :now
      AND EXISTS (SELECT 1 FROM locked)
      AND (NOT :in_order::boolean OR (SELECT locks FROM ordered) > 0)
    RETURNING id
)
SELECT enabled, (SELECT count(*) FROM expired) AS expired FROM locked;

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
SELECT id, batch_id, inputs_hash, created_at, due_at FROM (
    SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
    WHERE action = :action AND state IN ('pending', 'retrying') AND batch_id IS NULL
    ORDER BY id
    LIMIT :limit
) AS windows
UNION ALL
SELECT id, batch_id, inputs_hash, created_at, due_at FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying') AND batch_id IN (
    SELECT batch_id FROM jobs
    WHERE action = :action AND state IN ('pending', 'retrying') AND batch_id IS NOT NULL
      AND due_at <= :now::float8
    GROUP BY batch_id
    ORDER BY min(id)
    LIMIT :batches)
ORDER BY id;

-- name: claim_head
-- Without debounce only the first `limit` waiting jobs matter (fifo: the head, due or not;
-- none: those due now), each with the rest of its batch, so a claim reads a few rows, not the
-- whole backlog.
WITH head AS (
    SELECT id, batch_id FROM jobs
    WHERE action = :action AND state IN ('pending', 'retrying')
      AND (:fifo::boolean OR due_at <= :now::float8)
    ORDER BY id
    LIMIT :limit
)
SELECT id, batch_id, inputs_hash, created_at, due_at
FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying')
  AND (id IN (SELECT id FROM head)
       OR batch_id IN (SELECT batch_id FROM head WHERE batch_id IS NOT NULL))
ORDER BY id;

-- name: next_due
SELECT min(due_at) FROM jobs
WHERE action = :action AND state IN ('pending', 'retrying') AND due_at > :now;

-- name: window_summary
-- A debounced action's waiting jobs per batch or window, summarised: enough to tell whether
-- anything is ready before reading every row.
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
WITH units AS (
    SELECT * FROM unnest(:ids::bigint[], :batch_ids::text[]) AS u (id, batch_id)
),
marked AS (
    UPDATE jobs
    SET state = 'running', claimed_by = :worker, lease_until = :lease_until,
        batch_id = coalesce(jobs.batch_id, units.batch_id)
    FROM units
    WHERE jobs.id = units.id AND jobs.state IN ('pending', 'retrying')
    RETURNING jobs.id, jobs.action, jobs.rule, jobs.notification_key, jobs.event, jobs.inputs,
              jobs.attempts, jobs.retry_index, jobs.first_failure_at, jobs.created_at,
              jobs.request_id, jobs.batch_id
)
SELECT m.*, n.raw
FROM marked m LEFT JOIN notifications n ON n.key = m.notification_key
ORDER BY m.id;

-- name: record_batch
-- A group of attempts of one action in one statement (one round trip, atomic on its own), with
-- what recording them one after the other in their order gives (recording.py): the jobs (only
-- while the attempt's worker still holds them: a late result after a takeover does not count),
-- the attempt rows, and the action's failure episode. One row: per attempt, in order, the
-- episode it left (`failing_since`) and whether it counted (`recorded`), and `alerted`. A late
-- result writes no attempt row (its number is the other worker's attempt) and leaves the
-- episode alone: it gets the episode as the attempts before it left it.
-- `locked` takes the action's row first (the InitPlan in `recorded`), before any job row:
-- a statement never holds job rows while it waits for the action's row, and another replica's
-- record of the same action, committed meanwhile, is read as it now stands.
WITH a AS (
    SELECT *
    FROM unnest(:workers::text[], :states::text[], :failed::int[], :retry_indexes::int[],
                :first_failures::float8[], :due_ats::float8[], :started_ats::float8[],
                :finished_ats::float8[], :statuses::int[], :responses::text[],
                :errors::text[], :delivery_ids::text[], :outcomes::text[], :requests::text[])
         WITH ORDINALITY AS a (worker, state, failed, retry_index, first_failure_at, due_at,
                               started_at, finished_at, status, response, error, delivery_id,
                               outcome, request, ord)
),
j AS (
    SELECT * FROM unnest(:job_attempts::bigint[], :job_ids::bigint[], :numbers::int[])
                  AS j (ord, id, number)
),
locked AS (
    SELECT failing_since, alerted FROM actions WHERE name = :action FOR UPDATE
),
recorded AS (
    UPDATE jobs
    SET state = a.state, attempts = jobs.attempts + 1, failures = jobs.failures + a.failed,
        retry_index = a.retry_index, first_failure_at = a.first_failure_at,
        due_at = coalesce(a.due_at, jobs.due_at), last_attempt_at = a.finished_at,
        last_status = a.status, last_response = a.response, last_error = a.error,
        claimed_by = NULL, lease_until = NULL,
        finished_at = CASE WHEN a.state IN ('succeeded', 'dead') THEN a.finished_at END
    FROM j JOIN a ON a.ord = j.ord
    WHERE jobs.id = ANY(:job_ids::bigint[]) AND jobs.id = j.id AND jobs.state = 'running'
      AND jobs.claimed_by = a.worker AND (SELECT count(*) FROM locked) >= 0
    RETURNING jobs.id, j.ord, j.number, jobs.failures - a.failed > 0 AS failing_before,
              jobs.state = 'retrying' AS failing_after
),
attempt AS (
    INSERT INTO attempts
        (job_id, number, delivery_id, started_at, finished_at, outcome, status, response, error,
         request)
    SELECT r.id, r.number, a.delivery_id, a.started_at, a.finished_at, a.outcome, a.status,
           a.response, a.error, a.request
    FROM recorded AS r JOIN a ON a.ord = r.ord
    ON CONFLICT (job_id, number) DO UPDATE
    SET delivery_id = excluded.delivery_id, started_at = excluded.started_at,
        finished_at = excluded.finished_at, outcome = excluded.outcome,
        status = excluded.status, response = excluded.response, error = excluded.error,
        request = excluded.request
),
counted AS (
    -- Each attempt that counted, with how many of its jobs were failing before it (being
    -- retried, failures behind them) and after it (waiting for their retry).
    SELECT a.ord, a.failed, a.state, a.finished_at,
           count(*) FILTER (WHERE r.failing_before) AS failing_before,
           count(*) FILTER (WHERE r.failing_after) AS failing_after
    FROM a JOIN recorded AS r ON r.ord = a.ord
    GROUP BY a.ord, a.failed, a.state, a.finished_at
),
elsewhere AS (
    -- A job of the action that no attempt of the group holds, still failing (as it stands).
    SELECT EXISTS (
        SELECT 1 FROM jobs AS s
        WHERE s.action = :action AND s.state IN ('retrying', 'running') AND s.failures > 0
          AND s.id NOT IN (SELECT id FROM recorded)) AS failing
),
steps AS (
    -- Whether each attempt that counted ends the episode (episodes.py, which SQLite runs, says
    -- how): a success does unless another job of the action is still failing then: elsewhere,
    -- or among the group's jobs (those of the attempts before it as they left them, those of
    -- the attempts after it as they were). A success that meets no open episode (none before
    -- the group, no failure before it in the group) needs no lookup: it leaves none.
    SELECT ord, failed, state, finished_at,
           CASE
               WHEN failed = 1 THEN false
               WHEN (SELECT failing_since FROM locked) IS NULL
                    AND NOT coalesce(bool_or(failed = 1) OVER before_it, false) THEN true
               ELSE coalesce(sum(failing_after) OVER before_it, 0)
                    + coalesce(sum(failing_before) OVER after_it, 0) = 0
                    AND NOT (SELECT failing FROM elsewhere)
           END AS ends
    FROM counted
    WINDOW before_it AS (ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           after_it AS (ORDER BY ord ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
),
runs AS (
    -- Cut at each attempt that ends the episode: within a run, the episode is the one before
    -- the group (the first run only) or else the one its first failure opened.
    SELECT ord, failed, state, finished_at,
           count(*) FILTER (WHERE ends) OVER (ORDER BY ord) AS ended
    FROM steps
),
opened AS (
    SELECT ord, failed, state, finished_at, ended,
           min(ord) FILTER (WHERE failed = 1) OVER (PARTITION BY ended ORDER BY ord)
               AS first_failure
    FROM runs
),
episodes AS (
    SELECT o.ord, o.failed, o.state, o.finished_at,
           CASE WHEN o.ended = 0
                THEN coalesce((SELECT failing_since FROM locked), f.finished_at)
                ELSE f.finished_at END AS failing_since
    FROM opened AS o LEFT JOIN a AS f ON f.ord = o.first_failure
),
episode AS (
    UPDATE actions
    SET last_success_at = coalesce((SELECT finished_at FROM episodes WHERE failed = 0
                                    ORDER BY ord DESC LIMIT 1), last_success_at),
        last_failure_at = coalesce((SELECT finished_at FROM episodes WHERE failed = 1
                                    ORDER BY ord DESC LIMIT 1), last_failure_at),
        failing_since = (SELECT failing_since FROM episodes ORDER BY ord DESC LIMIT 1),
        last_dead_at = coalesce((SELECT finished_at FROM episodes WHERE state = 'dead'
                                 ORDER BY ord DESC LIMIT 1), last_dead_at)
    WHERE name = :action AND EXISTS (SELECT 1 FROM episodes)
),
answers AS (
    -- An attempt that did not count gets the episode as the one before it left it.
    SELECT ord, recorded,
           CASE WHEN seen = 0 THEN (SELECT failing_since FROM locked)
                ELSE first_value(failing_since) OVER (PARTITION BY seen ORDER BY ord)
           END AS failing_since
    FROM (SELECT a.ord, e.ord IS NOT NULL AS recorded, e.failing_since,
                 count(e.ord) OVER (ORDER BY a.ord) AS seen
          FROM a LEFT JOIN episodes AS e ON e.ord = a.ord) AS o
)
SELECT array_agg(failing_since ORDER BY ord) AS failing_since,
       array_agg(recorded ORDER BY ord) AS recorded,
       (SELECT alerted FROM locked) AS alerted
FROM answers;

-- name: lock_episode
SELECT failing_since, alerted FROM actions WHERE name = :action FOR UPDATE;

-- name: set_alerted
UPDATE actions SET alerted = :alerted WHERE name = :action;

-- name: kill_unreadable
-- A claimed job whose stored row no longer reads (an event or inputs column that is not JSON:
-- written by hand, by an older version): dead with the reason, kept, instead of failing its
-- action's every claim.
UPDATE jobs
SET state = 'dead', claimed_by = NULL, lease_until = NULL, last_error = :error::text,
    finished_at = :now
WHERE id = :id AND state = 'running';

-- name: release_jobs
UPDATE jobs
SET state = CASE WHEN failures > 0 THEN 'retrying' ELSE 'pending' END,
    claimed_by = NULL, lease_until = NULL
WHERE id = ANY(:ids::bigint[]) AND state = 'running' AND claimed_by = :worker;

-- name: prune_attempts
DELETE FROM attempts WHERE job_id IN
    (SELECT id FROM jobs WHERE state = 'succeeded' AND finished_at < :before);

-- name: prune_rule_stats
-- The rule counts of hours that ended before `before` (their matches are past the retention).
DELETE FROM rule_stats WHERE hour < floor(:before::float8 / 3600)::bigint;

-- name: prune_jobs
DELETE FROM jobs WHERE state = 'succeeded' AND finished_at < :before;

-- name: lock_prunable_notifications
-- The notifications prune may delete, locked until COMMIT; those a replay is inserting jobs for
-- (insert_replayed_jobs holds them FOR KEY SHARE) are skipped, not waited for (pruning.py).
SELECT key FROM notifications
WHERE received_at < :before
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_key = notifications.key)
FOR UPDATE SKIP LOCKED;

-- name: prune_notifications
-- After lock_prunable_notifications, in a statement of its own: its snapshot is taken once the
-- locks are held, so it sees the jobs of every replay that held one of them before.
DELETE FROM notifications
WHERE key = ANY(:keys::text[])
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.notification_key = notifications.key);

-- name: prune_latest
-- After prune_notifications: an object's latest older than `before` goes unless its
-- notification is still kept (a job needs it), so that one stays recognised as long as it is.
DELETE FROM object_latest
WHERE received_at < :before
  AND content_key NOT IN (SELECT content_key FROM notifications WHERE received_at < :before);

-- name: action_counts
-- Per action, from indexes, never a pass over every job's row (at a million jobs that took
-- seconds, and /metrics, the overview and `bridge status` read this): jobs by state from the
-- queue index; the oldest waiting job and retries running from the unfinished jobs; failed
-- attempts from the jobs that ever failed (jobs_failed); the last attempt from the action's row.
WITH states AS (
    SELECT action, state, count(*) AS n FROM jobs GROUP BY action, state
),
unfinished AS (
    SELECT action,
           min(created_at) FILTER (WHERE state IN ('pending', 'retrying')) AS oldest_pending_at,
           count(*) FILTER (WHERE state = 'running' AND failures > 0) AS retries_running
    FROM jobs WHERE state IN ('pending', 'running', 'retrying') GROUP BY action
),
failed AS (
    SELECT action, sum(failures) AS failed_attempts FROM jobs WHERE failures > 0 GROUP BY action
),
counts AS (
    SELECT action,
           coalesce(sum(n) FILTER (WHERE state = 'pending'), 0) AS pending,
           coalesce(sum(n) FILTER (WHERE state = 'running'), 0) AS running,
           coalesce(sum(n) FILTER (WHERE state = 'retrying'), 0) AS retrying,
           coalesce(sum(n) FILTER (WHERE state = 'succeeded'), 0) AS succeeded,
           coalesce(sum(n) FILTER (WHERE state = 'dead'), 0) AS dead
    FROM states GROUP BY action
)
SELECT c.action, c.pending, c.running, c.retrying, c.succeeded, c.dead,
       coalesce(f.failed_attempts, 0) AS failed_attempts,
       greatest(a.last_success_at, a.last_failure_at) AS last_attempt_at,
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
WHERE (:action::text IS NULL OR action = :action)
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
       CASE WHEN length(raw) <= :raw_chars::int THEN raw END AS raw, length(raw) AS raw_chars
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

-- name: rule_stats
-- Notifications each rule matched in the hours within the retention (`:since_hour` on).
SELECT rule, sum(matched)::bigint AS matched, max(last_matched_at) AS last_matched_at
FROM rule_stats WHERE hour >= :since_hour GROUP BY rule ORDER BY rule;

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

-- == issue 12 (operator views: search, series) ============================================
-- name: search_deliveries
-- The delivery log searched: every condition is optional (NULL: not asked). Text is matched
-- case-insensitively: codename and item id whole, name part of it, q part of any of them (and
-- of the summary and request id); request id, rule and state exactly.
-- With a failures filter, `search_failed_deliveries`: over the jobs that ever failed alone.
-- variant: search_failed_deliveries: (:filter::text = 'all' OR failures > 0) -> failures > 0
SELECT id, action, rule, state, attempts, created_at, last_attempt_at, last_status,
       last_response, summary, batch_id, due_at, last_error, failures
FROM jobs
WHERE (:action::text IS NULL OR action = :action::text)
  AND (created_at >= :retained::float8 OR state <> 'succeeded')
  AND (:filter::text = 'all' OR failures > 0)
  AND (:filter::text <> 'active_failures' OR state <> 'succeeded')
  AND (:rule::text IS NULL OR rule = :rule::text)
  AND (:state::text IS NULL OR state = :state::text)
  AND (:since::float8 IS NULL OR created_at >= :since::float8)
  AND (:until::float8 IS NULL OR created_at <= :until::float8)
  AND (:request_id::text IS NULL OR request_id = :request_id::text)
  AND (:codename::text IS NULL
       OR lower(bridge_event_field(event, 'codename')) = lower(:codename::text))
  AND (:item_id::text IS NULL OR lower(bridge_event_field(event, 'id')) = lower(:item_id::text))
  AND (:item_name::text IS NULL
       OR strpos(lower(coalesce(bridge_event_field(event, 'name'), '')), lower(:item_name::text)) > 0)
  AND (:q::text IS NULL
       OR strpos(lower(summary), lower(:q::text)) > 0
       OR strpos(lower(coalesce(request_id, '')), lower(:q::text)) > 0
       OR strpos(lower(coalesce(bridge_event_field(event, 'id'), '')), lower(:q::text)) > 0
       OR strpos(lower(coalesce(bridge_event_field(event, 'name'), '')), lower(:q::text)) > 0
       OR strpos(lower(coalesce(bridge_event_field(event, 'codename'), '')), lower(:q::text)) > 0)
ORDER BY id DESC
LIMIT :limit OFFSET :offset;

-- name: series_delivered
-- Jobs delivered per action per bucket (bucket = whole buckets since :since).
SELECT action, floor((finished_at - :since::float8) / :bucket_s::float8)::int AS bucket,
       count(*) AS n
FROM jobs
WHERE state = 'succeeded' AND finished_at >= :since::float8 AND finished_at < :until::float8
GROUP BY action, bucket;

-- name: series_failed
-- Failed attempts per action per bucket they started in.
SELECT j.action, floor((a.started_at - :since::float8) / :bucket_s::float8)::int AS bucket,
       count(*) AS n
FROM attempts AS a JOIN jobs AS j ON j.id = a.job_id
WHERE a.outcome <> 'succeeded' AND a.started_at >= :since::float8
  AND a.started_at < :until::float8
GROUP BY j.action, bucket;

-- name: series_queue_changes
-- The queue's changes per action and bucket, for views.py to add up: `joined` jobs created in
-- the bucket (bucket -1: created by :since, still waiting then), `left` jobs that succeeded or
-- died in it. Only the jobs that can be waiting at some bucket's end are read: the unfinished
-- ones and those finished after :since, both from jobs_finished_at (every state is named so the
-- index serves both), never every job (the join of buckets and jobs this replaced grew with
-- both). A job counts as waiting at a bucket's end `e` (the bucket's end, or :now) when
-- created_at <= e < finished_at: bucket k holds the times in
-- (:since + k * :bucket_s, :since + (k + 1) * :bucket_s], so a time on an end is in the bucket
-- it ends.
WITH waiting AS (
    SELECT action, created_at, finished_at FROM jobs
    WHERE state IN ('pending', 'running', 'retrying', 'succeeded', 'dead')
      AND finished_at IS NULL AND created_at <= :now::float8
    UNION ALL
    SELECT action, created_at, finished_at FROM jobs
    WHERE state IN ('pending', 'running', 'retrying', 'succeeded', 'dead')
      AND finished_at > :since::float8 AND created_at <= :now::float8
),
changes AS (
    SELECT action, (created_at - :since::float8) / :bucket_s::float8 AS x, 1 AS joined,
           0 AS left_
    FROM waiting
    UNION ALL
    SELECT action, (finished_at - :since::float8) / :bucket_s::float8 AS x, 0, 1 FROM waiting
    WHERE finished_at <= :now::float8
)
SELECT action, CASE WHEN x <= 0 THEN -1 ELSE ceil(x)::int - 1 END AS bucket,
       sum(joined)::bigint AS joined, sum(left_)::bigint AS left
FROM changes GROUP BY action, 2;

-- name: restart_jobs
-- Bulk retry: the listed jobs that are retrying or dead, with the jobs delivered in one call
-- with them (a call is retried whole), run again now with their schedules restarted.
UPDATE jobs
SET state = 'retrying', due_at = :now::float8, retry_index = 0, first_failure_at = NULL,
    finished_at = NULL
WHERE state IN ('retrying', 'dead')
  AND (id = ANY(:ids::bigint[])
       OR batch_id IN (SELECT batch_id FROM jobs
                       WHERE id = ANY(:ids::bigint[]) AND batch_id IS NOT NULL))
RETURNING id;
