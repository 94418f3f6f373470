-- The backfill schema: repositories, what was fetched from GitHub, and the work state.
-- Applies on vanilla PostgreSQL 15+ and on Supabase. Invariants live in CHECK constraints so a
-- bug fails loudly instead of writing a state the engine cannot reason about.

-- Supabase's API roles exist on Supabase; create them only where missing (vanilla Postgres).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END
$$;

CREATE TABLE repositories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner       text NOT NULL CHECK (owner ~ '^[A-Za-z0-9_][A-Za-z0-9_-]{0,38}$'),
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,100}$' AND name NOT IN ('.', '..')),
    github_id   text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- GitHub names are case-insensitive: `Octo/Hello` and `octo/hello` are one repository.
CREATE UNIQUE INDEX repositories_owner_name_key ON repositories (lower(owner), lower(name));

CREATE TABLE contributors (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_id    text NOT NULL UNIQUE,
    login        text NOT NULL,
    type         text NOT NULL,
    database_id  bigint,
    avatar_url   text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pull_requests (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id  uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    github_id      text NOT NULL UNIQUE,
    database_id    bigint,
    number         integer NOT NULL CHECK (number > 0),
    title          text NOT NULL,
    body           text NOT NULL DEFAULT '',
    state          text NOT NULL CHECK (state IN ('OPEN', 'CLOSED', 'MERGED')),
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
CREATE INDEX pull_requests_author_idx ON pull_requests (author_id);

CREATE TABLE reviews (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
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
CREATE INDEX reviews_author_idx ON reviews (author_id);

CREATE TABLE comments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
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
CREATE INDEX comments_author_idx ON comments (author_id);

-- Every claim takes a fresh token from here: a worker whose lease was taken over holds a
-- smaller token than the row, so its writes match nothing.
CREATE SEQUENCE backfill_claim_token_seq AS bigint;

CREATE TABLE progressive_backfill_state (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id      uuid NOT NULL UNIQUE REFERENCES repositories (id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'active', 'paused', 'completed', 'failed')),
    -- GitHub's totalCount; NULL while GitHub reports none, so the spec's progress query
    -- (processed_prs / total_prs) never divides by zero.
    total_prs          integer CHECK (total_prs > 0),
    processed_prs      integer NOT NULL DEFAULT 0 CHECK (processed_prs >= 0),
    cursor             text,
    last_chunk_number  integer NOT NULL DEFAULT 0 CHECK (last_chunk_number >= 0),
    page_size          integer CHECK (page_size BETWEEN 1 AND 100),
    claim_token        bigint,
    leased_by          text,
    lease_expires_at   timestamptz,
    error_count        integer NOT NULL DEFAULT 0 CHECK (error_count >= 0),
    last_error         text,
    cooldown_until     timestamptz,
    waiting_until      timestamptz,
    chunks_pruned      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    completed_at       timestamptz,
    last_claimed_at    timestamptz,
    CHECK ((leased_by IS NULL) = (lease_expires_at IS NULL)),
    CHECK (leased_by IS NULL OR claim_token IS NOT NULL),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK (status <> 'failed' OR last_error IS NOT NULL)
);
CREATE INDEX progressive_backfill_state_claim_idx
    ON progressive_backfill_state (status, last_claimed_at NULLS FIRST, created_at);
CREATE INDEX progressive_backfill_state_updated_idx ON progressive_backfill_state (updated_at);

CREATE TABLE backfill_chunks (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    backfill_state_id  uuid NOT NULL REFERENCES progressive_backfill_state (id) ON DELETE CASCADE,
    chunk_number       integer NOT NULL CHECK (chunk_number > 0),
    status             text NOT NULL DEFAULT 'processing'
                       CHECK (status IN ('processing', 'completed', 'failed')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    failed_at          timestamptz,
    pr_numbers         integer[],
    pr_count           integer CHECK (pr_count >= 0),
    inserted_prs       integer CHECK (inserted_prs >= 0),
    reviews_count      integer CHECK (reviews_count >= 0),
    comments_count     integer CHECK (comments_count >= 0),
    cursor_before      text,
    cursor_after       text,
    claim_token        bigint,
    worker_id          text,
    error              text,
    recovered          boolean NOT NULL DEFAULT false,
    UNIQUE (backfill_state_id, chunk_number),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK ((status = 'failed') = (failed_at IS NOT NULL)),
    CHECK (status <> 'failed' OR error IS NOT NULL),
    CHECK (status <> 'processing' OR claim_token IS NOT NULL)
);
-- The stuck scan (status = 'processing' AND started_at < threshold) and the 24-hour statistics.
CREATE INDEX backfill_chunks_status_started_idx ON backfill_chunks (status, started_at);
CREATE INDEX backfill_chunks_started_idx ON backfill_chunks (started_at);
-- Rates and ETAs per backfill come from recent completions.
CREATE INDEX backfill_chunks_state_completed_idx
    ON backfill_chunks (backfill_state_id, completed_at) WHERE status = 'completed';

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

-- The latest budget each token has seen, keyed by a one-way fingerprint (never the token).
CREATE TABLE github_rate_limits (
    token_fingerprint       text PRIMARY KEY,
    remaining               integer NOT NULL,
    "limit"                 integer NOT NULL,
    used                    integer NOT NULL,
    reset_at                timestamptz NOT NULL,
    last_cost               integer,
    average_cost_per_query  double precision,
    queries                 integer NOT NULL DEFAULT 0,
    observed_at             timestamptz NOT NULL DEFAULT now()
);

-- Row-level security on every table: the service role does everything, the API's public
-- roles nothing. (Table owners bypass RLS, so direct Postgres connections are unaffected.)
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['repositories', 'contributors', 'pull_requests', 'reviews',
                             'comments', 'progressive_backfill_state', 'backfill_chunks',
                             'workers', 'github_rate_limits']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY service_role_all ON %I FOR ALL TO service_role '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC, anon, authenticated', t);
        EXECUTE format('GRANT ALL ON TABLE %I TO service_role', t);
    END LOOP;
END
$$;
REVOKE ALL ON SEQUENCE backfill_claim_token_seq FROM PUBLIC, anon, authenticated;
GRANT USAGE, SELECT ON SEQUENCE backfill_claim_token_seq TO service_role;
GRANT USAGE ON SCHEMA public TO service_role;
