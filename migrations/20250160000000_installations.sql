-- Several budgets at once (issue 18): GitHub App installations, or personal tokens of several
-- accounts, each with a budget of its own.
--
-- 1. A repository remembers the App installation that can see it (`installation_id`, from
--    GET /repos/{owner}/{repo}/installation when it is added; NULL = any credential will do:
--    personal tokens, or a repository registered before the App was configured).
-- 2. Claims are routed: `claim_backfill`, `claim_sync` and `backfill_work_summary` take the
--    installations a worker may work for right now (`p_installations`, those with budget
--    left); a repository whose installation is not among them is left for another worker or
--    for after that installation's reset, so one exhausted installation never idles the
--    others. NULL (the argument left out, as the spec calls it) keeps the old behaviour: any.
--    The rule is written once, in `routed_to`.
-- 3. Each budget row says whose budget it is, safe to show: the credential's display name
--    ("installation 42 (octo-org)", "token 1a2b3c4d") and its installation id. Never a token.
-- 4. A repository no installation can see fails its backfill with a reason that says so
--    (`fail_unreachable_backfill`), and a repository registered before routing can be routed
--    later by the worker that claims it (`route_repository`).

ALTER TABLE repositories ADD COLUMN IF NOT EXISTS installation_id bigint
    CHECK (installation_id > 0);

ALTER TABLE github_rate_limits
    ADD COLUMN IF NOT EXISTS credential text,
    ADD COLUMN IF NOT EXISTS installation_id bigint;

-- The routing rule, once: a repository of installation `p_installation` may be worked with
-- the credentials of `p_installations` (NULL: any credential; a repository without an
-- installation: any credential).
CREATE FUNCTION routed_to(p_installation bigint, p_installations bigint[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT p_installations IS NULL OR p_installation IS NULL
           OR p_installation = ANY (p_installations);
$$;

-- register_backfill as in 20250124000000_repositories_by_node_id.sql, plus the installation
-- that sees the repository, written in the same statement as the registration so no worker
-- can claim a new backfill before it is routed. NULL leaves a known installation alone.
DROP FUNCTION IF EXISTS register_backfill(text, text, integer, text);

CREATE FUNCTION register_backfill(p_owner text, p_name text, p_total_prs integer,
                                  p_github_id text DEFAULT NULL,
                                  p_installation_id bigint DEFAULT NULL)
RETURNS TABLE (repository_id uuid, backfill_state_id uuid, owner text, name text,
               status text, created boolean)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_repo repositories%ROWTYPE;
    v_named repositories%ROWTYPE;
    v_state_id uuid;
    v_created boolean := false;
BEGIN
    SELECT * INTO v_named FROM repositories r
     WHERE lower(r.owner) = lower(p_owner) AND lower(r.name) = lower(p_name)
       FOR UPDATE;
    IF p_github_id IS NOT NULL THEN
        SELECT * INTO v_repo FROM repositories r WHERE r.github_id = p_github_id FOR UPDATE;
    END IF;

    IF v_repo.id IS NOT NULL THEN
        IF v_named.id IS NOT NULL AND v_named.id <> v_repo.id THEN
            RAISE EXCEPTION '%/% is registered for another GitHub repository (node %), but GitHub now gives that name to node %',
                p_owner, p_name, coalesce(v_named.github_id, 'unknown'), p_github_id
                USING ERRCODE = '23505',
                      HINT = 'remove the old repository first (backfill-console remove)';
        END IF;
        IF (v_repo.owner, v_repo.name) IS DISTINCT FROM (p_owner, p_name) THEN
            UPDATE repositories SET owner = p_owner, name = p_name, updated_at = now()
             WHERE id = v_repo.id;  -- renamed or transferred on GitHub
        END IF;
    ELSIF v_named.id IS NOT NULL THEN
        IF p_github_id IS NOT NULL AND v_named.github_id IS NOT NULL
           AND v_named.github_id <> p_github_id THEN
            RAISE EXCEPTION '%/% is registered for another GitHub repository (node %), but GitHub now gives that name to node %',
                p_owner, p_name, v_named.github_id, p_github_id
                USING ERRCODE = '23505',
                      HINT = 'remove the old repository first (backfill-console remove)';
        END IF;
        UPDATE repositories SET github_id = coalesce(github_id, p_github_id)
         WHERE id = v_named.id AND github_id IS NULL AND p_github_id IS NOT NULL;
        v_repo := v_named;
    ELSE
        INSERT INTO repositories (owner, name, github_id, installation_id)
        VALUES (p_owner, p_name, p_github_id, p_installation_id)
        ON CONFLICT DO NOTHING
        RETURNING * INTO v_repo;
        IF v_repo.id IS NULL THEN  -- registered concurrently by another process
            SELECT * INTO v_repo FROM repositories r
             WHERE lower(r.owner) = lower(p_owner) AND lower(r.name) = lower(p_name);
        END IF;
    END IF;

    IF p_installation_id IS NOT NULL THEN  -- moved to another installation, or routed now
        UPDATE repositories SET installation_id = p_installation_id, updated_at = now()
         WHERE id = v_repo.id AND installation_id IS DISTINCT FROM p_installation_id;
    END IF;

    INSERT INTO progressive_backfill_state (repository_id, total_prs)
    VALUES (v_repo.id, NULLIF(p_total_prs, 0))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_state_id;
    v_created := v_state_id IS NOT NULL;
    IF NOT v_created THEN
        SELECT s.id INTO v_state_id FROM progressive_backfill_state s
         WHERE s.repository_id = v_repo.id;
    END IF;

    RETURN QUERY
        SELECT r.id, s.id, r.owner, r.name, s.status, v_created
          FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
         WHERE r.id = v_repo.id;
END
$$;

-- claim_backfill as in 20250105000000_leases_and_chunk_commit.sql, routed: only backfills
-- whose repository may be worked with `p_installations` (routed_to); the answer says which
-- installation the repository belongs to, so the worker picks that installation's client.
DROP FUNCTION IF EXISTS claim_backfill(text, integer, uuid[]);

CREATE FUNCTION claim_backfill(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                               p_only uuid[] DEFAULT NULL, p_installations bigint[] DEFAULT NULL)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, cursor text,
               total_prs integer, processed_prs integer, page_size integer,
               installation_id bigint)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
        RAISE EXCEPTION 'lease must be a positive number of seconds' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH candidate AS (
        SELECT s.id
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
         WHERE s.status IN ('pending', 'active')
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND routed_to(r.installation_id, p_installations)
         ORDER BY s.last_claimed_at NULLS FIRST, s.created_at, s.id
         LIMIT 1
           FOR NO KEY UPDATE OF s SKIP LOCKED
    ), claimed AS (
        UPDATE progressive_backfill_state s
           SET claim_token = nextval('backfill_claim_token_seq'),
               leased_by = p_worker_id,
               lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               last_claimed_at = now(),
               status = 'active',
               started_at = coalesce(s.started_at, now()),
               waiting_until = NULL,
               updated_at = now()
          FROM candidate c
         WHERE s.id = c.id
        RETURNING s.*
    )
    SELECT c.id, c.repository_id, r.owner, r.name, c.claim_token, c.lease_expires_at,
           c.cursor, c.total_prs, c.processed_prs, c.page_size, r.installation_id
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$$;

-- claim_sync as in 20250130000000_incremental_sync.sql, routed the same way.
DROP FUNCTION IF EXISTS claim_sync(text, integer, interval, uuid[], integer);

CREATE FUNCTION claim_sync(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                           p_older_than interval DEFAULT interval '15 minutes',
                           p_only uuid[] DEFAULT NULL, p_margin_seconds integer DEFAULT 600,
                           p_installations bigint[] DEFAULT NULL)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, cursor text,
               total_prs integer, processed_prs integer, page_size integer,
               since timestamptz, watermark timestamptz, installation_id bigint)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
        RAISE EXCEPTION 'lease must be a positive number of seconds' USING ERRCODE = '22023';
    END IF;
    IF p_margin_seconds IS NULL OR p_margin_seconds < 0 THEN
        RAISE EXCEPTION 'the safety margin cannot be negative' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH candidate AS (
        SELECT s.id
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
         WHERE s.status = 'completed'
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND routed_to(r.installation_id, p_installations)
           AND (s.sync_cursor IS NOT NULL
                OR s.sync_requested_at > coalesce(s.synced_at, '-infinity')
                OR (p_older_than IS NOT NULL
                    AND coalesce(s.synced_at, s.completed_at) <= now() - p_older_than))
         ORDER BY s.sync_cursor IS NULL, s.sync_requested_at IS NULL,
                  coalesce(s.synced_at, s.completed_at), s.id
         LIMIT 1
           FOR NO KEY UPDATE OF s SKIP LOCKED
    ), claimed AS (
        UPDATE progressive_backfill_state s
           SET claim_token = nextval('backfill_claim_token_seq'),
               leased_by = p_worker_id,
               lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               last_claimed_at = now(),
               waiting_until = NULL,
               updated_at = now()
          FROM candidate c
         WHERE s.id = c.id
        RETURNING s.*
    )
    SELECT c.id, c.repository_id, r.owner, r.name, c.claim_token, c.lease_expires_at,
           c.sync_cursor, c.total_prs, c.processed_prs, c.page_size,
           coalesce(c.sync_watermark, c.started_at, c.completed_at)
             - make_interval(secs => p_margin_seconds),
           c.sync_watermark, r.installation_id
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$$;

-- backfill_work_summary as in 20250107000000_backfill_control.sql, counting only the work
-- `p_installations` may do: a worker run with --until-idle ends when none is left for it,
-- not when the backfills of an installation it has no credential for are done.
DROP FUNCTION IF EXISTS backfill_work_summary(uuid[]);

CREATE FUNCTION backfill_work_summary(p_only uuid[] DEFAULT NULL,
                                      p_installations bigint[] DEFAULT NULL)
RETURNS TABLE (claimable bigint, leased bigint, cooling bigint, paused bigint,
               completed bigint, failed bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND NOT coalesce(s.cooldown_until > now(), false)),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND s.lease_expires_at > now()),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND s.cooldown_until > now()),
        count(*) FILTER (WHERE s.status = 'paused'),
        count(*) FILTER (WHERE s.status = 'completed'),
        count(*) FILTER (WHERE s.status = 'failed')
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE (p_only IS NULL OR s.id = ANY (p_only))
       AND routed_to(r.installation_id, p_installations);
$$;

-- Route a repository registered before routing (installation_id NULL) once a worker has asked
-- GitHub which installation sees it. Only fills a NULL: `add` decides a known installation.
CREATE FUNCTION route_repository(p_repository_id uuid, p_installation_id bigint)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH routed AS (
        UPDATE repositories SET installation_id = p_installation_id, updated_at = now()
         WHERE id = p_repository_id AND installation_id IS NULL
           AND p_installation_id IS NOT NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM routed);
$$;

-- A repository no installation can see: its backfill fails with `p_reason` (what to do about
-- it: install the App on the owner) unless a worker holds it under a live lease right now (that
-- worker's next query fails on its own). Returns whether it was failed. `retry` or `add`
-- reopens it once the App can see the repository.
CREATE FUNCTION fail_unreachable_backfill(p_backfill_state_id uuid, p_reason text)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH failed AS (
        UPDATE progressive_backfill_state
           SET status = 'failed',
               last_error = left(coalesce(NULLIF(p_reason, ''), 'no credential can see it'), 2000),
               leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               completed_at = NULL, updated_at = now()
         WHERE id = p_backfill_state_id
           AND status <> 'completed'
           AND NOT coalesce(lease_expires_at > now(), false)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM failed);
$$;

-- record_rate_limit as in 20250140000000_server_time_pacing.sql, plus whose budget it is:
-- the credential's display name and its installation (never a token).
DROP FUNCTION IF EXISTS record_rate_limit(text, integer, integer, integer, timestamptz, integer,
                                          double precision, integer, text, jsonb);

CREATE FUNCTION record_rate_limit(p_token_fingerprint text, p_remaining integer,
                                  p_limit integer, p_used integer,
                                  p_reset_at timestamptz,
                                  p_last_cost integer DEFAULT NULL,
                                  p_average_cost_per_query double precision DEFAULT NULL,
                                  p_queries integer DEFAULT 0,
                                  p_process text DEFAULT NULL,
                                  p_server_time jsonb DEFAULT NULL,
                                  p_credential text DEFAULT NULL,
                                  p_installation_id bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_now double precision := extract(epoch FROM now());
    v_entry jsonb := '{}'::jsonb;
    v_map jsonb;
BEGIN
    IF p_process IS NOT NULL AND jsonb_typeof(p_server_time) = 'object' THEN
        v_entry := jsonb_build_object(p_process, p_server_time || jsonb_build_object('at', v_now));
    END IF;
    INSERT INTO github_rate_limits AS g (token_fingerprint, remaining, "limit", used, reset_at,
                                         last_cost, average_cost_per_query, queries, server_time,
                                         credential, installation_id)
    VALUES (p_token_fingerprint, p_remaining, p_limit, p_used, p_reset_at, p_last_cost,
            p_average_cost_per_query, p_queries, v_entry, left(p_credential, 200),
            p_installation_id)
    ON CONFLICT (token_fingerprint) DO UPDATE
       SET remaining = EXCLUDED.remaining, "limit" = EXCLUDED."limit", used = EXCLUDED.used,
           reset_at = EXCLUDED.reset_at, last_cost = EXCLUDED.last_cost,
           average_cost_per_query = EXCLUDED.average_cost_per_query,
           queries = EXCLUDED.queries, observed_at = now(),
           credential = coalesce(EXCLUDED.credential, g.credential),
           installation_id = coalesce(EXCLUDED.installation_id, g.installation_id),
           -- keep entries reported within the last hour, then this process's latest
           server_time = coalesce((SELECT jsonb_object_agg(e.key, e.value)
                                     FROM jsonb_each(g.server_time) e
                                    WHERE (e.value ->> 'at')::double precision > v_now - 3600),
                                  '{}'::jsonb) || EXCLUDED.server_time
    RETURNING g.server_time INTO v_map;
    RETURN coalesce((SELECT jsonb_object_agg(e.key, e.value || jsonb_build_object(
                                 'age', v_now - (e.value ->> 'at')::double precision))
                       FROM jsonb_each(v_map) e
                      WHERE p_process IS NULL OR e.key <> p_process), '{}'::jsonb);
END;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'routed_to(bigint, bigint[])'::regprocedure,
        'register_backfill(text, text, integer, text, bigint)'::regprocedure,
        'claim_backfill(text, integer, uuid[], bigint[])'::regprocedure,
        'claim_sync(text, integer, interval, uuid[], integer, bigint[])'::regprocedure,
        'backfill_work_summary(uuid[], bigint[])'::regprocedure,
        'route_repository(uuid, bigint)'::regprocedure,
        'fail_unreachable_backfill(uuid, text)'::regprocedure,
        'record_rate_limit(text, integer, integer, integer, timestamptz, integer, double precision, integer, text, jsonb, text, bigint)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
