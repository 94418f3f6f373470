CREATE TABLE workers (
    id                 text PRIMARY KEY,
    host               text NOT NULL,
    pid                integer NOT NULL,
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'waiting', 'stopping', 'stopped')),
    backfill_state_id  uuid REFERENCES progressive_backfill_state (id) ON DELETE SET NULL,
    detail             text,
    started_at         timestamptz NOT NULL DEFAULT now(),
    heartbeat_at       timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz,
    CHECK ((status = 'stopped') = (stopped_at IS NOT NULL))
);
-- Recovery's cleanup deletes the rows of workers silent for a day (stopped, or dead) by it.
-- The console's workers: those heard from recently.
CREATE INDEX workers_heartbeat_idx ON workers (heartbeat_at);

ALTER TABLE workers ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON workers FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE workers FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE workers TO service_role;
