-- The pull requests refused, GitHub's refusals and the database's alike, with the reason:
-- stored what it can, said what it could not. A PR stored later (a retry, a sync) clears its
-- failure. Each failure counts its attempts and is asked for again alone, a bounded number
-- of times (pull_requests_to_retry), by its node id, else its number, else its position:
-- the cursor right before it (position_cursor) in position_order, for a PR GitHub sent as a
-- null node. github_id is bounded to what the primary key's index holds
-- (pull_request_failure_key).
CREATE TABLE pull_request_failures (
    repository_id  uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    github_id      text NOT NULL,
    number         bigint,
    chunk_id       uuid REFERENCES backfill_chunks (id) ON DELETE SET NULL,
    error          text NOT NULL,
    failed_at      timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    position_cursor text,
    position_order text,
    PRIMARY KEY (repository_id, github_id)
);

ALTER TABLE pull_request_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON pull_request_failures FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE pull_request_failures FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE pull_request_failures TO service_role;
