CREATE TABLE comments (
    id              uuid PRIMARY KEY DEFAULT uuid_v7(),
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    github_id       text NOT NULL UNIQUE,
    database_id     bigint,
    author_id       uuid REFERENCES contributors (id),
    body            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz,
    url             text,
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_pull_request_idx ON comments (pull_request_id);

ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON comments FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE comments FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE comments TO service_role;
