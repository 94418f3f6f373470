-- The chunk lifecycle as SQL functions: both transports (psycopg and PostgREST RPC) call these,
-- so each atomic step is written, and proven, once.
--
--   register_backfill -> claim_backfill -> start_chunk -> record_chunk_prs -> commit_chunk
--                        heartbeat_backfill / release_backfill / fail_chunk / fail_backfill
--
-- Every write made on behalf of a worker is guarded by its fencing token (claim_token) and a
-- live lease on the database clock; a worker whose lease was taken over changes nothing.

CREATE FUNCTION register_backfill(p_owner text, p_name text, p_total_prs integer,
                                  p_github_id text DEFAULT NULL)
RETURNS TABLE (repository_id uuid, backfill_state_id uuid, owner text, name text,
               status text, created boolean)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_repo_id uuid;
    v_state_id uuid;
    v_created boolean := false;
BEGIN
    INSERT INTO repositories (owner, name, github_id)
    VALUES (p_owner, p_name, p_github_id)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_repo_id;
    IF v_repo_id IS NULL THEN
        SELECT r.id INTO v_repo_id FROM repositories r
         WHERE lower(r.owner) = lower(p_owner) AND lower(r.name) = lower(p_name);
    END IF;

    INSERT INTO progressive_backfill_state (repository_id, total_prs)
    VALUES (v_repo_id, NULLIF(p_total_prs, 0))
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_state_id;
    v_created := v_state_id IS NOT NULL;
    IF NOT v_created THEN
        SELECT s.id INTO v_state_id FROM progressive_backfill_state s
         WHERE s.repository_id = v_repo_id;
    END IF;

    RETURN QUERY
        SELECT r.id, s.id, r.owner, r.name, s.status, v_created
          FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
         WHERE r.id = v_repo_id;
END
$$;

-- Claim one backfill: new ones first (never claimed), then the least recently claimed, so no
-- repository starves. SKIP LOCKED in a CTE with LIMIT: a locked row is skipped, not waited on,
-- and exactly one row is claimed.
CREATE FUNCTION claim_backfill(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                               p_only uuid[] DEFAULT NULL)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, cursor text,
               total_prs integer, processed_prs integer, page_size integer)
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
         WHERE s.status IN ('pending', 'active')
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
         ORDER BY s.last_claimed_at NULLS FIRST, s.created_at, s.id
         LIMIT 1
           FOR NO KEY UPDATE SKIP LOCKED
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
           c.cursor, c.total_prs, c.processed_prs, c.page_size
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$$;

-- Extend a live lease. NULL means the lease is gone (expired or taken over): stop writing.
CREATE FUNCTION heartbeat_backfill(p_backfill_state_id uuid, p_claim_token bigint,
                                   p_lease_seconds integer DEFAULT 60)
RETURNS timestamptz
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    UPDATE progressive_backfill_state
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
     WHERE id = p_backfill_state_id
       AND claim_token = p_claim_token
       AND lease_expires_at > now()
    RETURNING lease_expires_at;
$$;

CREATE FUNCTION release_backfill(p_backfill_state_id uuid, p_claim_token bigint)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH released AS (
        UPDATE progressive_backfill_state
           SET leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               updated_at = now()
         WHERE id = p_backfill_state_id
           AND claim_token = p_claim_token
           AND leased_by IS NOT NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM released);
$$;

-- The holder says it is waiting for GitHub's budget (visible to every console).
CREATE FUNCTION set_backfill_waiting(p_backfill_state_id uuid, p_claim_token bigint,
                                     p_until timestamptz)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH marked AS (
        UPDATE progressive_backfill_state
           SET waiting_until = p_until, updated_at = now()
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM marked);
$$;

-- Reserve the next chunk of a backfill this worker holds. No row: the lease is gone or the
-- backfill is no longer active (paused, completed).
CREATE FUNCTION start_chunk(p_backfill_state_id uuid, p_claim_token bigint, p_worker_id text)
RETURNS SETOF backfill_chunks
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_cursor text;
BEGIN
    SELECT s.cursor INTO v_cursor
      FROM progressive_backfill_state s
     WHERE s.id = p_backfill_state_id
       AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND s.status = 'active'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        INSERT INTO backfill_chunks (backfill_state_id, chunk_number, cursor_before,
                                     claim_token, worker_id)
        VALUES (p_backfill_state_id, get_next_chunk_number(p_backfill_state_id), v_cursor,
                p_claim_token, p_worker_id)
        RETURNING *;
END
$$;

-- After the fetch, before the commit: which PRs this chunk carries, so recovery can check
-- whether they were stored if the worker dies here.
CREATE FUNCTION record_chunk_prs(p_chunk_id uuid, p_claim_token bigint, p_pr_numbers integer[])
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH noted AS (
        UPDATE backfill_chunks
           SET pr_numbers = p_pr_numbers, pr_count = cardinality(p_pr_numbers)
         WHERE id = p_chunk_id AND claim_token = p_claim_token AND status = 'processing'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM noted);
$$;

-- Commit one fetched page in one transaction: contributors, pull requests, reviews and
-- comments upserted; the chunk completed; the cursor and processed_prs advanced by the rows
-- newly inserted. Guarded by the fencing token, a live lease and status = 'processing': a
-- stale holder's commit changes nothing and says why.
--
-- p_pull_requests is a JSON array of pull requests as core.github.models.PullRequest dumps
-- them (each with author, reviews and comments).
CREATE FUNCTION commit_chunk(p_chunk_id uuid, p_claim_token bigint, p_pull_requests jsonb,
                             p_cursor_after text, p_has_next_page boolean, p_total_prs integer)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
    v_state progressive_backfill_state%ROWTYPE;
    v_chunk backfill_chunks%ROWTYPE;
    v_inserted integer;
    v_upserted integer;
    v_reviews integer;
    v_comments integer;
    v_numbers integer[];
BEGIN
    IF jsonb_typeof(p_pull_requests) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'p_pull_requests must be a JSON array' USING ERRCODE = '22023';
    END IF;

    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'chunk does not exist');
    END IF;
    -- Lock order: backfill row, then chunk (start_chunk and recovery take them the same way).
    SELECT * INTO v_state FROM progressive_backfill_state s WHERE s.id = v_state_id FOR UPDATE;
    SELECT * INTO v_chunk FROM backfill_chunks c WHERE c.id = p_chunk_id FOR UPDATE;

    IF v_chunk.status <> 'processing' OR v_chunk.claim_token IS DISTINCT FROM p_claim_token THEN
        RETURN jsonb_build_object('committed', false,
                                  'reason', format('chunk is %s', v_chunk.status));
    END IF;
    IF v_state.claim_token IS DISTINCT FROM p_claim_token
       OR v_state.lease_expires_at IS NULL OR v_state.lease_expires_at <= now() THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'lease lost');
    END IF;

    -- Contributors first (pull requests, reviews and comments point at them). Sorted so two
    -- commits sharing authors lock them in the same order and cannot deadlock.
    WITH actors AS (
        SELECT DISTINCT ON (a->>'github_id') a
          FROM (
                SELECT pr->'author' AS a FROM jsonb_array_elements(p_pull_requests) pr
                UNION ALL
                SELECT r->'author'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(pr->'reviews', '[]')) r
                UNION ALL
                SELECT c->'author'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(pr->'comments', '[]')) c
               ) all_actors
         WHERE jsonb_typeof(a) = 'object'
         ORDER BY a->>'github_id'
    )
    INSERT INTO contributors AS ct (github_id, login, type, database_id, avatar_url)
    SELECT a->>'github_id', a->>'login', coalesce(a->>'type', 'User'),
           (a->>'database_id')::bigint, a->>'avatar_url'
      FROM actors
     ORDER BY a->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET login = EXCLUDED.login, type = EXCLUDED.type,
           database_id = coalesce(EXCLUDED.database_id, ct.database_id),
           avatar_url = coalesce(EXCLUDED.avatar_url, ct.avatar_url), updated_at = now()
     WHERE (ct.login, ct.type) IS DISTINCT FROM (EXCLUDED.login, EXCLUDED.type);

    WITH upserted AS (
        INSERT INTO pull_requests AS p (
            repository_id, github_id, database_id, number, title, body, state, is_draft,
            merged, created_at, updated_at, closed_at, merged_at, additions, deletions,
            changed_files, base_ref_name, head_ref_name, url, author_id, commits_count, labels)
        SELECT v_state.repository_id, pr->>'github_id', (pr->>'database_id')::bigint,
               (pr->>'number')::integer, pr->>'title', coalesce(pr->>'body', ''),
               pr->>'state', coalesce((pr->>'is_draft')::boolean, false),
               coalesce((pr->>'merged')::boolean, false),
               (pr->>'created_at')::timestamptz, (pr->>'updated_at')::timestamptz,
               (pr->>'closed_at')::timestamptz, (pr->>'merged_at')::timestamptz,
               coalesce((pr->>'additions')::integer, 0), coalesce((pr->>'deletions')::integer, 0),
               coalesce((pr->>'changed_files')::integer, 0),
               coalesce(pr->>'base_ref_name', ''), coalesce(pr->>'head_ref_name', ''),
               coalesce(pr->>'url', ''),
               (SELECT ct.id FROM contributors ct WHERE ct.github_id = pr->'author'->>'github_id'),
               coalesce((pr->>'commits_count')::integer, 0),
               ARRAY(SELECT jsonb_array_elements_text(coalesce(pr->'labels', '[]')))
          FROM jsonb_array_elements(p_pull_requests) pr
         ORDER BY (pr->>'number')::integer
        ON CONFLICT (github_id) DO UPDATE
           SET title = EXCLUDED.title, body = EXCLUDED.body, state = EXCLUDED.state,
               is_draft = EXCLUDED.is_draft, merged = EXCLUDED.merged,
               updated_at = EXCLUDED.updated_at, closed_at = EXCLUDED.closed_at,
               merged_at = EXCLUDED.merged_at, additions = EXCLUDED.additions,
               deletions = EXCLUDED.deletions, changed_files = EXCLUDED.changed_files,
               base_ref_name = EXCLUDED.base_ref_name, head_ref_name = EXCLUDED.head_ref_name,
               url = EXCLUDED.url, author_id = EXCLUDED.author_id,
               commits_count = EXCLUDED.commits_count, labels = EXCLUDED.labels,
               synced_at = now()
        RETURNING (xmax = 0) AS inserted, number
    )
    SELECT count(*) FILTER (WHERE inserted), count(*), coalesce(array_agg(number ORDER BY number), '{}')
      INTO v_inserted, v_upserted, v_numbers
      FROM upserted;

    INSERT INTO reviews AS rv (pull_request_id, github_id, database_id, author_id, state, body,
                               submitted_at, created_at, url)
    SELECT p.id, r->>'github_id', (r->>'database_id')::bigint,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = r->'author'->>'github_id'),
           r->>'state', coalesce(r->>'body', ''), (r->>'submitted_at')::timestamptz,
           (r->>'created_at')::timestamptz, r->>'url'
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(pr->'reviews', '[]')) r
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
     ORDER BY r->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET state = EXCLUDED.state, body = EXCLUDED.body, submitted_at = EXCLUDED.submitted_at,
           author_id = EXCLUDED.author_id, url = EXCLUDED.url, synced_at = now();
    GET DIAGNOSTICS v_reviews = ROW_COUNT;

    INSERT INTO comments AS cm (pull_request_id, github_id, database_id, author_id, body,
                                created_at, updated_at, url)
    SELECT p.id, c->>'github_id', (c->>'database_id')::bigint,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = c->'author'->>'github_id'),
           coalesce(c->>'body', ''), (c->>'created_at')::timestamptz,
           (c->>'updated_at')::timestamptz, c->>'url'
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(pr->'comments', '[]')) c
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
     ORDER BY c->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
           author_id = EXCLUDED.author_id, url = EXCLUDED.url, synced_at = now();
    GET DIAGNOSTICS v_comments = ROW_COUNT;

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after
     WHERE id = p_chunk_id;

    UPDATE progressive_backfill_state s
       SET cursor = coalesce(p_cursor_after, s.cursor),
           processed_prs = s.processed_prs + v_inserted,
           total_prs = NULLIF(p_total_prs, 0),
           status = CASE WHEN NOT p_has_next_page THEN 'completed'
                         WHEN s.status = 'paused' THEN 'paused'
                         ELSE 'active' END,
           completed_at = CASE WHEN NOT p_has_next_page THEN now() END,
           leased_by = CASE WHEN p_has_next_page THEN s.leased_by END,
           lease_expires_at = CASE WHEN p_has_next_page THEN s.lease_expires_at END,
           error_count = 0, last_error = NULL, cooldown_until = NULL, waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id
    RETURNING * INTO v_state;

    RETURN jsonb_build_object(
        'committed', true, 'inserted_prs', v_inserted, 'upserted_prs', v_upserted,
        'reviews', v_reviews, 'comments', v_comments, 'processed_prs', v_state.processed_prs,
        'total_prs', v_state.total_prs, 'status', v_state.status);
END
$$;

-- A chunk that could not be fetched or stored. The cursor did not move, so the page is
-- retried; the backfill cools down (p_cooldown_seconds) instead of pausing forever.
CREATE FUNCTION fail_chunk(p_chunk_id uuid, p_claim_token bigint, p_error text,
                           p_cooldown_seconds integer DEFAULT 0)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
BEGIN
    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM progressive_backfill_state s WHERE s.id = v_state_id FOR NO KEY UPDATE;
    UPDATE backfill_chunks
       SET status = 'failed', failed_at = now(),
           error = left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000)
     WHERE id = p_chunk_id AND claim_token = p_claim_token AND status = 'processing';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE progressive_backfill_state s
       SET error_count = s.error_count + 1,
           last_error = left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000),
           cooldown_until = CASE WHEN p_cooldown_seconds > 0
                                 THEN now() + make_interval(secs => p_cooldown_seconds) END,
           updated_at = now()
     WHERE s.id = v_state_id AND s.claim_token = p_claim_token;
    RETURN true;
END
$$;

-- The backfill cannot go on (the repository is gone): failed with the reason, lease released.
CREATE FUNCTION fail_backfill(p_backfill_state_id uuid, p_claim_token bigint, p_reason text)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH failed AS (
        UPDATE progressive_backfill_state
           SET status = 'failed', last_error = left(coalesce(NULLIF(p_reason, ''), 'failed'), 2000),
               leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               completed_at = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM failed);
$$;

-- Workers announce themselves and what they are on, so every console sees all machines.
CREATE FUNCTION worker_heartbeat(p_worker_id text, p_host text, p_pid integer, p_status text,
                                 p_backfill_state_id uuid DEFAULT NULL, p_detail text DEFAULT NULL)
RETURNS void
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    INSERT INTO workers AS w (id, host, pid, status, backfill_state_id, detail, stopped_at)
    VALUES (p_worker_id, p_host, p_pid, p_status, p_backfill_state_id, p_detail,
            CASE WHEN p_status = 'stopped' THEN now() END)
    ON CONFLICT (id) DO UPDATE
       SET host = EXCLUDED.host, pid = EXCLUDED.pid, status = EXCLUDED.status,
           backfill_state_id = EXCLUDED.backfill_state_id, detail = EXCLUDED.detail,
           heartbeat_at = now(), stopped_at = EXCLUDED.stopped_at,
           started_at = CASE WHEN w.status = 'stopped' THEN now() ELSE w.started_at END;
$$;

CREATE FUNCTION record_rate_limit(p_token_fingerprint text, p_remaining integer,
                                  p_limit integer, p_used integer, p_reset_at timestamptz,
                                  p_last_cost integer DEFAULT NULL,
                                  p_average_cost_per_query double precision DEFAULT NULL,
                                  p_queries integer DEFAULT 0)
RETURNS void
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    INSERT INTO github_rate_limits AS g (token_fingerprint, remaining, "limit", used, reset_at,
                                         last_cost, average_cost_per_query, queries)
    VALUES (p_token_fingerprint, p_remaining, p_limit, p_used, p_reset_at, p_last_cost,
            p_average_cost_per_query, p_queries)
    ON CONFLICT (token_fingerprint) DO UPDATE
       SET remaining = EXCLUDED.remaining, "limit" = EXCLUDED."limit", used = EXCLUDED.used,
           reset_at = EXCLUDED.reset_at, last_cost = EXCLUDED.last_cost,
           average_cost_per_query = EXCLUDED.average_cost_per_query,
           queries = EXCLUDED.queries, observed_at = now();
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'register_backfill(text, text, integer, text)'::regprocedure,
        'claim_backfill(text, integer, uuid[])'::regprocedure,
        'heartbeat_backfill(uuid, bigint, integer)'::regprocedure,
        'release_backfill(uuid, bigint)'::regprocedure,
        'set_backfill_waiting(uuid, bigint, timestamptz)'::regprocedure,
        'start_chunk(uuid, bigint, text)'::regprocedure,
        'record_chunk_prs(uuid, bigint, integer[])'::regprocedure,
        'commit_chunk(uuid, bigint, jsonb, text, boolean, integer)'::regprocedure,
        'fail_chunk(uuid, bigint, text, integer)'::regprocedure,
        'fail_backfill(uuid, bigint, text)'::regprocedure,
        'worker_heartbeat(text, text, integer, text, uuid, text)'::regprocedure,
        'record_rate_limit(text, integer, integer, integer, timestamptz, integer, double precision, integer)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;
