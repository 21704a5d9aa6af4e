-- Durable ingest (issue 21): one index fewer to maintain per stored event. Mirror:
-- ../sqlite/0015_sink_indexes.sql.
--
-- No query reads game_events by (tenant, kind, time): the chat retention purge finds its rows
-- through (tenant_id, sent_at) and filters by kind, the chat list through (tenant_id, room, seq)
-- and the primary key. Every insert paid for this index all the same.
DROP INDEX IF EXISTS game_events_tenant_kind_sent_idx;
