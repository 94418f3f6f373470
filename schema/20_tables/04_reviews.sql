CREATE TABLE reviews (
    id              uuid PRIMARY KEY DEFAULT uuid_v7(),
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    github_id       text NOT NULL UNIQUE,
    database_id     bigint,
    author_id       uuid REFERENCES contributors (id),
    state           text NOT NULL,
    body            text NOT NULL DEFAULT '',
    submitted_at    timestamptz,
    created_at      timestamptz NOT NULL,
    url             text,
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reviews_pull_request_idx ON reviews (pull_request_id);

ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON reviews FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE reviews FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE reviews TO service_role;
