-- Each tenant's AI tokens per UTC day: `used` (settled calls) and `reserved` (calls under way).
-- A call reserves before the model is asked, with one conditional upsert that refuses when
-- used + reserved would pass the plan's quota, and settles to its real usage afterwards
-- (`Store::reserve_ai_tokens`, `Store::settle_ai_tokens`). `day` is the day's first Unix second.
CREATE TABLE IF NOT EXISTS ai_usage (
    tenant_id  TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (tenant_id, day)
);

-- Today's (and earlier days') usage so far, from the calls already recorded.
INSERT INTO ai_usage (tenant_id, day, used, reserved)
SELECT tenant_id, CAST(strftime('%s', created_at) AS INTEGER) / 86400 * 86400, SUM(tokens_used), 0
FROM agent_tasks
WHERE true
GROUP BY 1, 2
ON CONFLICT (tenant_id, day) DO NOTHING;
