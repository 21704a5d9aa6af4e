-- Roblox Open Cloud API keys, one per (tenant, universe): with one configured, every new
-- teacher command also publishes a MessagingService "poll now" message to that universe.
-- The key is a credential the server must send as-is (x-api-key), so it is stored, not hashed;
-- `classhub opencloud set` writes it and nothing reads it back out over an API.
CREATE TABLE IF NOT EXISTS open_cloud_keys (
    tenant_id    TEXT        NOT NULL REFERENCES tenants (id),
    universe_id  INTEGER     NOT NULL,
    api_key      TEXT        NOT NULL CHECK (length(api_key) > 0),
    created_at   TEXT        NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    updated_at   TEXT        NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (tenant_id, universe_id)
);
