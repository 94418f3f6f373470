-- Every table has row-level security on: the service role does everything, the API's public
-- roles nothing. (Table owners bypass RLS, so direct Postgres connections are unaffected.)
-- Invariants live in CHECK constraints so a bug fails loudly instead of writing a state the
-- engine cannot reason about.

CREATE TABLE repositories (
    id          uuid PRIMARY KEY DEFAULT uuid_v7(),
    owner       text NOT NULL CHECK (owner ~ '^[A-Za-z0-9_][A-Za-z0-9_-]{0,38}$'),
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,100}$' AND name NOT IN ('.', '..')),
    github_id   text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The GitHub App installation that can see the repository (from
    -- GET /repos/{owner}/{repo}/installation when it is added); NULL: any credential will do
    -- (personal tokens, or a repository registered before the App was configured).
    installation_id bigint CHECK (installation_id > 0)
);
-- GitHub names are case-insensitive: `Octo/Hello` and `octo/hello` are one repository.
CREATE UNIQUE INDEX repositories_owner_name_key ON repositories (lower(owner), lower(name));

ALTER TABLE repositories ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON repositories FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE repositories FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE repositories TO service_role;
