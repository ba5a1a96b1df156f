-- Rule match counts per hour (bridge/delivery/accepting.py adds to them as it accepts), so the
-- rules page sums a row per rule and hour instead of counting every job (2.5-3.6 s at a million
-- jobs); hours older than the retention go with the prune. Filled from the jobs kept now.
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
