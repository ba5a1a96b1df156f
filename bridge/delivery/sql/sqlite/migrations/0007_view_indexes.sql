-- Indexes that keep the operator views and probes off a pass over every job (bench/views.py:
-- at a million jobs the overview's counts took 1.8 s and the activity chart 7-10 s).
-- Delivered and waiting per bucket read the finished index alone (action and created_at in it).
DROP INDEX jobs_finished_at;
CREATE INDEX jobs_finished_at ON jobs (state, finished_at, action, created_at);
-- The jobs that ever failed, newest first (the delivery log's failures filters) and their
-- failed attempts per action (the overview).
CREATE INDEX jobs_failed ON jobs (id, action, failures) WHERE failures > 0;
-- The activity chart's failures: only failed attempts.
CREATE INDEX attempts_failed_started ON attempts (started_at) WHERE outcome <> 'succeeded';
