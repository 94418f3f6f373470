-- The rows stored per repository as numbers, kept exact by the statement-level triggers on
-- the stored tables (40_triggers/pull_requests.sql and the children's): `stats` and
-- database_size read one row per repository instead of counting whole tables. A PR is
-- deleted only with its repository, and this row goes with it.
CREATE TABLE repository_row_counts (
    repository_id    uuid PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    pull_requests    bigint NOT NULL DEFAULT 0,
    reviews          bigint NOT NULL DEFAULT 0,
    comments         bigint NOT NULL DEFAULT 0,
    review_threads   bigint NOT NULL DEFAULT 0,
    review_comments  bigint NOT NULL DEFAULT 0
);

ALTER TABLE repository_row_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON repository_row_counts FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE repository_row_counts FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE repository_row_counts TO service_role;
