CREATE TABLE review_threads (
    id                  uuid PRIMARY KEY DEFAULT uuid_v7(),
    pull_request_id     uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    github_id           text NOT NULL UNIQUE,
    path                text NOT NULL DEFAULT '',
    line                integer,
    original_line       integer,
    start_line          integer,
    original_start_line integer,
    diff_side           text,
    is_resolved         boolean NOT NULL DEFAULT false,
    is_outdated         boolean NOT NULL DEFAULT false,
    is_collapsed        boolean NOT NULL DEFAULT false,
    resolved_by_id      uuid REFERENCES contributors (id),
    synced_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_threads_pull_request_idx ON review_threads (pull_request_id);

ALTER TABLE review_threads ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON review_threads FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE review_threads FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE review_threads TO service_role;
