-- Rule match counts per hour, so the rules page sums a row per rule and hour instead of counting
-- every job (2.5-3.6 s at a million jobs); hours older than the retention go with the prune.
-- Filled from the jobs kept now; then the trigger adds each stored notification once per rule
-- it matched (a redelivery inserts no row, a replay's jobs none), inside the accept's own
-- statement, as PostgreSQL's one-statement accept does in its `matched` part (a `rules` value
-- that is not JSON, written by hand, counts nothing).
CREATE TABLE rule_stats (
    rule TEXT NOT NULL,
    hour INTEGER NOT NULL,
    matched INTEGER NOT NULL DEFAULT 0,
    last_matched_at REAL,
    PRIMARY KEY (rule, hour)
);
INSERT INTO rule_stats (rule, hour, matched, last_matched_at)
SELECT rule, CAST(created_at / 3600 AS INTEGER), count(DISTINCT coalesce(notification_key, id)),
       max(created_at)
FROM jobs GROUP BY rule, CAST(created_at / 3600 AS INTEGER);
CREATE TRIGGER notifications_count_rule_matches AFTER INSERT ON notifications
BEGIN
    INSERT INTO rule_stats (rule, hour, matched, last_matched_at)
    SELECT value, CAST(NEW.received_at / 3600 AS INTEGER), 1, NEW.received_at
    FROM json_each(CASE WHEN json_valid(NEW.rules) THEN NEW.rules ELSE '[]' END) WHERE true
    ON CONFLICT (rule, hour) DO UPDATE
    SET matched = matched + 1, last_matched_at = excluded.last_matched_at;
END;
