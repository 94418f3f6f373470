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
    observed_at             timestamptz NOT NULL DEFAULT now(),
    -- Each process's server-time figures on this token (response time used in its pacing
    -- window, the budget, answers over target, 502/504 and secondary-limit answers and PRs
    -- in the last hour), keyed by process id and stamped with the database clock.
    server_time             jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Whose budget it is, safe to show: the credential's display name
    -- ("installation 42 (octo-org)", "token 1a2b3c4d") and its installation id. Never a token.
    credential              text,
    installation_id         bigint
);

ALTER TABLE github_rate_limits ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON github_rate_limits FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE github_rate_limits FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE github_rate_limits TO service_role;
