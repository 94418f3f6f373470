-- Incremental sync (issue 17, DESIGN.md §9): a finished repository stays true to GitHub.
--
-- A sync walks pullRequests(orderBy: UPDATED_AT DESC) down to the repository's watermark
-- minus a safety margin and replaces each changed PR with GitHub's current one (its reviews,
-- comments and labels included, deletions too), one transaction per page. It is work like a
-- chunk: claimed with the backfill's own lease and fencing token, numbered by the same
-- counter, kept in backfill_chunks with kind = 'sync', recovered by the same recovery.
--
-- Per repository (on its backfill state, one per repository):
--   sync_watermark      GitHub's updatedAt of the newest change applied by a finished sync
--   synced_at           when (database clock) the last sync finished
--   fresh_as_of         when that sync's walk began: the data is GitHub's as of then
--   sync_cursor         where an unfinished walk resumes (NULL: no walk in progress)
--   sync_target         newest updatedAt committed by the unfinished walk
--   sync_walk_started_at when the unfinished walk began
--   sync_requested_at   "sync now" (the CLI, the console), honoured whatever the interval
-- The watermark only moves with the commit of a walk's last page: a walk killed half way
-- leaves it where it was, and the next walk (resumed from sync_cursor) stops at the same place.

ALTER TABLE backfill_chunks
    ADD COLUMN kind text NOT NULL DEFAULT 'backfill' CHECK (kind IN ('backfill', 'sync'));

ALTER TABLE progressive_backfill_state
    ADD COLUMN sync_watermark timestamptz,
    ADD COLUMN synced_at timestamptz,
    ADD COLUMN fresh_as_of timestamptz,
    ADD COLUMN sync_cursor text,
    ADD COLUMN sync_target timestamptz,
    ADD COLUMN sync_walk_started_at timestamptz,
    ADD COLUMN sync_requested_at timestamptz,
    ADD COLUMN sync_count integer NOT NULL DEFAULT 0 CHECK (sync_count >= 0);

CREATE INDEX progressive_backfill_state_sync_idx
    ON progressive_backfill_state (synced_at) WHERE status = 'completed';

-- Claim one completed repository whose sync is due: its last sync (or, never synced, its
-- completion) is older than p_older_than, a sync was requested, or a walk is unfinished.
-- Same lease, same fencing sequence as claim_backfill; the status stays 'completed'.
-- p_since in the answer: where this walk stops (watermark, or the backfill's start when never
-- synced, minus p_margin_seconds).
CREATE FUNCTION claim_sync(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                           p_older_than interval DEFAULT interval '15 minutes',
                           p_only uuid[] DEFAULT NULL, p_margin_seconds integer DEFAULT 600)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, cursor text,
               total_prs integer, processed_prs integer, page_size integer,
               since timestamptz, watermark timestamptz)
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
         WHERE s.status = 'completed'
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND (s.sync_cursor IS NOT NULL
                OR s.sync_requested_at > coalesce(s.synced_at, '-infinity')
                OR (p_older_than IS NOT NULL
                    AND coalesce(s.synced_at, s.completed_at) <= now() - p_older_than))
         ORDER BY s.sync_cursor IS NULL, s.sync_requested_at IS NULL,
                  coalesce(s.synced_at, s.completed_at), s.id
         LIMIT 1
           FOR NO KEY UPDATE SKIP LOCKED
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
           c.sync_watermark
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$$;

-- "Sync now": the next worker (or `backfill-console sync`) syncs these repositories whatever
-- the interval. Returns how many completed repositories were marked.
CREATE FUNCTION request_sync(p_only uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH marked AS (
        UPDATE progressive_backfill_state s
           SET sync_requested_at = now()
         WHERE s.status = 'completed' AND (p_only IS NULL OR s.id = ANY (p_only))
        RETURNING 1
    )
    SELECT count(*)::integer FROM marked;
$$;

-- Reserve the next page of a sync this worker holds: a chunk of kind 'sync', numbered by the
-- backfill's own counter, starting where the walk stands. No row: lease gone or not completed.
CREATE FUNCTION start_sync_chunk(p_backfill_state_id uuid, p_claim_token bigint,
                                 p_worker_id text)
RETURNS SETOF backfill_chunks
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_cursor text;
BEGIN
    SELECT s.sync_cursor INTO v_cursor
      FROM progressive_backfill_state s
     WHERE s.id = p_backfill_state_id
       AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND s.status = 'completed'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE progressive_backfill_state s
       SET sync_walk_started_at = CASE WHEN s.sync_cursor IS NULL THEN now()
                                       ELSE coalesce(s.sync_walk_started_at, now()) END
     WHERE s.id = p_backfill_state_id;
    RETURN QUERY
        INSERT INTO backfill_chunks (backfill_state_id, chunk_number, cursor_before,
                                     claim_token, worker_id, kind)
        VALUES (p_backfill_state_id, get_next_chunk_number(p_backfill_state_id), v_cursor,
                p_claim_token, p_worker_id, 'sync')
        RETURNING *;
END
$$;

-- One PR's reviews and comments become exactly GitHub's current set: the ones a page no
-- longer lists for a PR it carries are deleted (a deleted comment disappears). Only for PRs
-- of p_repository_id whose numbers are in p_numbers (the ones stored by this commit).
CREATE FUNCTION replace_pull_request_children(p_repository_id uuid, p_pull_requests jsonb,
                                              p_numbers integer[],
                                              OUT reviews_deleted integer,
                                              OUT comments_deleted integer)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
BEGIN
    WITH page AS (
        SELECT p.id, coalesce(pr->'reviews', '[]') AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers)
    )
    DELETE FROM reviews rv
     USING page
     WHERE rv.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) r
                        WHERE r->>'github_id' = rv.github_id);
    GET DIAGNOSTICS reviews_deleted = ROW_COUNT;

    WITH page AS (
        SELECT p.id, coalesce(pr->'comments', '[]') AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers)
    )
    DELETE FROM comments cm
     USING page
     WHERE cm.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) c
                        WHERE c->>'github_id' = cm.github_id);
    GET DIAGNOSTICS comments_deleted = ROW_COUNT;
END
$$;

-- Commit one sync page in one transaction, fenced like commit_chunk: the changed PRs stored
-- (new ones inserted, processed_prs counting them), their reviews, comments and labels
-- replaced with GitHub's current set, the chunk completed. p_done (the walk reached the
-- watermark minus the margin): the watermark moves to the newest updatedAt the walk applied,
-- the repository is fresh as of the walk's start, and the lease is released. Otherwise the
-- walk's cursor moves on and the watermark stays.
CREATE FUNCTION commit_sync_chunk(p_chunk_id uuid, p_claim_token bigint, p_pull_requests jsonb,
                                  p_cursor_after text, p_done boolean, p_total_prs integer)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
    v_state progressive_backfill_state%ROWTYPE;
    v_chunk backfill_chunks%ROWTYPE;
    v_stored record;
    v_one record;
    v_deleted record;
    v_pr jsonb;
    v_message text;
    v_refused jsonb := '[]';
    v_inserted integer := 0;
    v_upserted integer := 0;
    v_reviews integer := 0;
    v_comments integer := 0;
    v_numbers integer[] := '{}';
    v_newest timestamptz;
BEGIN
    IF jsonb_typeof(p_pull_requests) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'p_pull_requests must be a JSON array' USING ERRCODE = '22023';
    END IF;

    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'chunk does not exist');
    END IF;
    -- Lock order: backfill row, then chunk (as commit_chunk, start_chunk and recovery).
    SELECT * INTO v_state FROM progressive_backfill_state s WHERE s.id = v_state_id FOR UPDATE;
    SELECT * INTO v_chunk FROM backfill_chunks c WHERE c.id = p_chunk_id FOR UPDATE;

    IF v_chunk.kind <> 'sync' THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'not a sync chunk');
    END IF;
    IF v_chunk.status <> 'processing' OR v_chunk.claim_token IS DISTINCT FROM p_claim_token THEN
        RETURN jsonb_build_object('committed', false,
                                  'reason', format('chunk is %s', v_chunk.status));
    END IF;
    IF v_state.claim_token IS DISTINCT FROM p_claim_token
       OR v_state.lease_expires_at IS NULL OR v_state.lease_expires_at <= now() THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'lease lost');
    END IF;

    BEGIN  -- the whole page at once
        SELECT * INTO v_stored FROM store_pull_requests(v_state.repository_id, p_pull_requests);
        v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
        v_reviews := v_stored.reviews; v_comments := v_stored.comments;
        v_numbers := v_stored.numbers;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR cardinality_violation THEN
        -- PR by PR, recording the refused ones (as commit_chunk does).
        FOR v_pr IN SELECT e FROM jsonb_array_elements(p_pull_requests) e LOOP
            BEGIN
                SELECT * INTO v_one
                  FROM store_pull_requests(v_state.repository_id, jsonb_build_array(v_pr));
                v_inserted := v_inserted + v_one.inserted;
                v_upserted := v_upserted + v_one.upserted;
                v_reviews := v_reviews + v_one.reviews;
                v_comments := v_comments + v_one.comments;
                v_numbers := v_numbers || v_one.numbers;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation
                           OR cardinality_violation THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                INSERT INTO pull_request_failures AS f
                       (repository_id, github_id, number, chunk_id, error)
                VALUES (v_state.repository_id,
                        coalesce(v_pr->>'github_id', format('(no id, #%s)', v_pr->>'number')),
                        CASE WHEN v_pr->>'number' ~ '^\d{1,18}$'
                             THEN (v_pr->>'number')::bigint END,
                        p_chunk_id, v_message)
                ON CONFLICT (repository_id, github_id) DO UPDATE
                   SET number = EXCLUDED.number, chunk_id = EXCLUDED.chunk_id,
                       error = EXCLUDED.error, failed_at = now();
                v_refused := v_refused || jsonb_build_object(
                    'number', v_pr->'number', 'github_id', v_pr->'github_id',
                    'error', v_message);
            END;
        END LOOP;
        SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}') INTO v_numbers
          FROM unnest(v_numbers) n;
    END;

    SELECT * INTO v_deleted
      FROM replace_pull_request_children(v_state.repository_id, p_pull_requests, v_numbers);

    SELECT max((pr->>'updated_at')::timestamptz) INTO v_newest
      FROM jsonb_array_elements(p_pull_requests) pr
     WHERE (pr->>'number') ~ '^\d{1,9}$' AND (pr->>'number')::integer = ANY (v_numbers);

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after,
           error = CASE WHEN jsonb_array_length(v_refused) > 0
                        THEN format('%s PR(s) refused by the database: %s',
                                    jsonb_array_length(v_refused), v_refused) END
     WHERE id = p_chunk_id;

    UPDATE progressive_backfill_state s
       SET processed_prs = s.processed_prs + v_inserted,
           total_prs = coalesce(NULLIF(p_total_prs, 0), s.total_prs),
           sync_cursor = CASE WHEN p_done THEN NULL
                              ELSE coalesce(p_cursor_after, s.sync_cursor) END,
           sync_target = CASE WHEN p_done THEN NULL ELSE greatest(s.sync_target, v_newest) END,
           sync_watermark = CASE WHEN p_done
                                 THEN greatest(s.sync_watermark, s.sync_target, v_newest)
                                 ELSE s.sync_watermark END,
           synced_at = CASE WHEN p_done THEN now() ELSE s.synced_at END,
           fresh_as_of = CASE WHEN p_done THEN coalesce(s.sync_walk_started_at, now())
                              ELSE s.fresh_as_of END,
           sync_walk_started_at = CASE WHEN p_done THEN NULL ELSE s.sync_walk_started_at END,
           sync_count = s.sync_count + CASE WHEN p_done THEN 1 ELSE 0 END,
           leased_by = CASE WHEN p_done THEN NULL ELSE s.leased_by END,
           lease_expires_at = CASE WHEN p_done THEN NULL ELSE s.lease_expires_at END,
           error_count = 0, last_error = NULL, cooldown_until = NULL, waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id
    RETURNING * INTO v_state;

    RETURN jsonb_build_object(
        'committed', true, 'inserted_prs', v_inserted, 'upserted_prs', v_upserted,
        'reviews', v_reviews, 'comments', v_comments,
        'reviews_deleted', v_deleted.reviews_deleted,
        'comments_deleted', v_deleted.comments_deleted,
        'processed_prs', v_state.processed_prs, 'total_prs', v_state.total_prs,
        'status', v_state.status, 'done', p_done, 'watermark', v_state.sync_watermark,
        'refused', v_refused);
END
$$;

-- Freshness per repository, for `stats`, `stats --json` and the console, as one jsonb value
-- (PostgREST cuts row sets silently). fresh_as_of: GitHub's data is in the database as of
-- then (the start of the last finished sync; never synced: the backfill's start). lag_seconds:
-- now() minus that. Not completed: both NULL (the backfill itself is the news).
CREATE FUNCTION sync_freshness_snapshot()
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'backfill_state_id', s.id,
               'repository', r.owner || '/' || r.name,
               'status', s.status,
               'watermark', s.sync_watermark,
               'synced_at', s.synced_at,
               'fresh_as_of', CASE WHEN s.status = 'completed'
                                   THEN coalesce(s.fresh_as_of, s.started_at, s.completed_at)
                              END,
               'lag_seconds', CASE WHEN s.status = 'completed'
                                   THEN greatest(0, floor(extract(epoch FROM now() - coalesce(
                                        s.fresh_as_of, s.started_at, s.completed_at))))::bigint
                              END,
               'syncing', s.sync_cursor IS NOT NULL
                          OR EXISTS (SELECT 1 FROM backfill_chunks c
                                      WHERE c.backfill_state_id = s.id AND c.kind = 'sync'
                                        AND c.status = 'processing'),
               'sync_requested_at', s.sync_requested_at,
               'syncs', s.sync_count,
               'observed_at', now())
             ORDER BY s.created_at, r.owner, r.name), '[]'::jsonb)
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id;
$$;

-- The spec's statistics count backfill chunks (pages of history), as they always did; sync
-- chunks are reported by sync_freshness_snapshot and visible in backfill_chunks by kind.
CREATE OR REPLACE FUNCTION chunk_statistics(p_since interval DEFAULT interval '24 hours',
                                            p_backfill_state_id uuid DEFAULT NULL,
                                            p_stuck_minutes integer DEFAULT 30)
RETURNS TABLE (processing bigint, completed bigint, failed bigint, stuck bigint, total bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT count(*) FILTER (WHERE c.status = 'processing'),
           count(*) FILTER (WHERE c.status = 'completed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'processing'
                              AND c.started_at < now() - make_interval(mins => p_stuck_minutes)
                              AND NOT (s.claim_token IS NOT DISTINCT FROM c.claim_token
                                       AND coalesce(s.lease_expires_at > now(), false))),
           count(*)
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
     WHERE c.started_at > now() - p_since
       AND c.kind = 'backfill'
       AND (p_backfill_state_id IS NULL OR c.backfill_state_id = p_backfill_state_id);
$$;

-- Recovery treats a stuck sync chunk like any other (same threshold, same live-lease rule),
-- but never as 'completed': its PRs exist from the backfill, so "stored" says nothing about
-- whether the sync's page landed. It is failed; the walk did not move, so the next sync
-- fetches the page again.
CREATE OR REPLACE FUNCTION recovery_plan(p_stuck_minutes integer)
RETURNS TABLE (chunk_id uuid, backfill_state_id uuid, repository text, chunk_number integer,
               worker_id text, started_at timestamptz, age_seconds integer, stored integer,
               expected integer, decision text, reason text)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT c.id, c.backfill_state_id, r.owner || '/' || r.name, c.chunk_number, c.worker_id,
           c.started_at, floor(extract(epoch FROM now() - c.started_at))::integer,
           t.stored, t.expected,
           CASE WHEN c.kind = 'sync' THEN 'failed'
                WHEN t.expected > 0 AND 5 * t.stored >= 4 * t.expected
                THEN 'completed' ELSE 'failed' END,
           CASE WHEN c.kind = 'sync' THEN 'sync page not committed (the next sync fetches it)'
                WHEN t.expected = 0 THEN 'no PR data'
                WHEN 5 * t.stored >= 4 * t.expected
                THEN format('recovered %s/%s', t.stored, t.expected)
                ELSE format('partial %s/%s', t.stored, t.expected) END
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
      JOIN repositories r ON r.id = s.repository_id
      CROSS JOIN LATERAL (
            SELECT count(DISTINCT n.number)::integer AS expected,
                   count(DISTINCT p.number)::integer AS stored
              FROM unnest(coalesce(c.pr_numbers, '{}'::integer[])) AS n (number)
              LEFT JOIN pull_requests p
                ON p.repository_id = s.repository_id AND p.number = n.number
      ) t
     WHERE c.status = 'processing'
       AND c.started_at < now() - make_interval(mins => p_stuck_minutes)
       AND NOT (s.claim_token IS NOT DISTINCT FROM c.claim_token
                AND coalesce(s.lease_expires_at > now(), false))
     ORDER BY c.started_at, c.id;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'claim_sync(text, integer, interval, uuid[], integer)'::regprocedure,
        'request_sync(uuid[])'::regprocedure,
        'start_sync_chunk(uuid, bigint, text)'::regprocedure,
        'replace_pull_request_children(uuid, jsonb, integer[])'::regprocedure,
        'commit_sync_chunk(uuid, bigint, jsonb, text, boolean, integer)'::regprocedure,
        'sync_freshness_snapshot()'::regprocedure,
        'chunk_statistics(interval, uuid, integer)'::regprocedure,
        'recovery_plan(integer)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
