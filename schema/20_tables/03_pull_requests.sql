CREATE TABLE pull_requests (
    id             uuid PRIMARY KEY DEFAULT uuid_v7(),
    repository_id  uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    github_id      text NOT NULL UNIQUE,
    database_id    bigint,
    number         integer NOT NULL CHECK (number > 0),
    title          text NOT NULL,
    body           text NOT NULL DEFAULT '',
    -- What GitHub sends: GitHub adds enum values without notice (the client reports values it
    -- has not seen), so no CHECK lists GitHub's values.
    state          text NOT NULL,
    is_draft       boolean NOT NULL DEFAULT false,
    merged         boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    merged_at      timestamptz,
    additions      integer NOT NULL DEFAULT 0,
    deletions      integer NOT NULL DEFAULT 0,
    changed_files  integer NOT NULL DEFAULT 0,
    base_ref_name  text NOT NULL DEFAULT '',
    head_ref_name  text NOT NULL DEFAULT '',
    url            text NOT NULL DEFAULT '',
    author_id      uuid REFERENCES contributors (id),
    commits_count  integer NOT NULL DEFAULT 0,
    labels         text[] NOT NULL DEFAULT '{}',
    synced_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, number),
    CHECK (merged = (merged_at IS NOT NULL))
);

ALTER TABLE pull_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON pull_requests FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE pull_requests FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE pull_requests TO service_role;
