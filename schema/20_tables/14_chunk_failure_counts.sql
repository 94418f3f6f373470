-- Each backfill's failed chunks as a number, kept by the triggers on backfill_chunks
-- (40_triggers/backfill_chunks.sql): the console's poll reads one row per backfill instead of
-- counting the failures' history.
CREATE TABLE chunk_failure_counts (
    backfill_state_id  uuid PRIMARY KEY
                       REFERENCES progressive_backfill_state (id) ON DELETE CASCADE,
    failed             integer NOT NULL DEFAULT 0
);

ALTER TABLE chunk_failure_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON chunk_failure_counts FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE chunk_failure_counts FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE chunk_failure_counts TO service_role;
