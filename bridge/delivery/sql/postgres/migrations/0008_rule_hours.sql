-- Rule match counts per hour as well as per shard, so that the rules page counts the matches
-- of the retention window, as SQLite's does (the counters counted since the store was made);
-- hours older than the retention go with the prune. Filled again from the jobs kept now.
DROP TABLE rule_stats;
CREATE TABLE rule_stats (
    rule TEXT NOT NULL,
    hour BIGINT NOT NULL,
    shard INTEGER NOT NULL,
    matched BIGINT NOT NULL DEFAULT 0,
    last_matched_at DOUBLE PRECISION,
    PRIMARY KEY (rule, hour, shard)
);
INSERT INTO rule_stats (rule, hour, shard, matched, last_matched_at)
SELECT rule, floor(created_at / 3600)::bigint, 0,
       count(DISTINCT coalesce(notification_key, id::text)), max(created_at)
FROM jobs GROUP BY rule, floor(created_at / 3600)::bigint;
