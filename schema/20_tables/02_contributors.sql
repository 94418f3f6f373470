CREATE TABLE contributors (
    id           uuid PRIMARY KEY DEFAULT uuid_v7(),
    github_id    text NOT NULL UNIQUE,
    login        text NOT NULL,
    type         text NOT NULL,
    database_id  bigint,
    avatar_url   text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE contributors ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON contributors FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE contributors FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE contributors TO service_role;
