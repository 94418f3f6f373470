CREATE TABLE review_comments (
    id              uuid PRIMARY KEY DEFAULT uuid_v7(),
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    thread_id       uuid NOT NULL REFERENCES review_threads (id) ON DELETE CASCADE,
    github_id       text NOT NULL UNIQUE,
    database_id     bigint,
    review_id       uuid REFERENCES reviews (id) ON DELETE SET NULL,
    in_reply_to     text,
    author_id       uuid REFERENCES contributors (id),
    body            text NOT NULL DEFAULT '',
    path            text NOT NULL DEFAULT '',
    line            integer,
    original_line   integer,
    diff_hunk       text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz,
    url             text,
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_comments_pull_request_idx ON review_comments (pull_request_id);
CREATE INDEX review_comments_thread_idx ON review_comments (thread_id);
CREATE INDEX review_comments_review_idx ON review_comments (review_id);

ALTER TABLE review_comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON review_comments FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE review_comments FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE review_comments TO service_role;
