-- The monitoring reads (every console poll, `stats`, the backfill progress view) read only
-- what they show, so their cost stays flat as chunk history grows:
--
--   * The time window is a value the planner sees. A SQL function carrying SET clauses is
--     not inlined, and its statements are planned once, generically, with the window as an
--     unknown parameter: the planner guessed a third of backfill_chunks and scanned all of
--     it. These functions are plpgsql now, compute their threshold once, and plan with
--     plan_cache_mode = force_custom_plan, so each call is planned with its real threshold.
--   * Two partial indexes lead with what the reads filter on: recent completions by
--     completed_at (rates), and the chunks that are not completed (processing and failed
--     counts, the "syncing" flag), a set that stays small however long the history grows.
--   * Whether a sync is under way is one join against the open chunks, not an EXISTS per
--     repository.
--   * jit = off: these are small index reads; JIT compilation alone cost 40-50 ms a poll.
--   * backfill_workers_snapshot sends the workers that are alive or were heard from in the
--     last ten minutes (a worker that just stopped is still shown stopping); long-gone rows
--     stay in the table for `backfill_workers()` and its cleanup, not in every poll.

CREATE INDEX backfill_chunks_completed_at_idx ON backfill_chunks (completed_at)
    INCLUDE (backfill_state_id, inserted_prs, started_at) WHERE status = 'completed';
CREATE INDEX backfill_chunks_open_idx ON backfill_chunks (backfill_state_id)
    INCLUDE (status, kind) WHERE status <> 'completed';
-- chunk_statistics: the window's backfill chunks by when they started, read from the index.
CREATE INDEX backfill_chunks_backfill_started_idx ON backfill_chunks (started_at)
    INCLUDE (status, backfill_state_id, claim_token) WHERE kind = 'backfill';
CREATE INDEX IF NOT EXISTS workers_heartbeat_idx ON workers (heartbeat_at);

-- Progress per repository with a rate over a recent window and the ETA it implies, and since
-- when its stored PRs last grew (progressed_at).
CREATE OR REPLACE FUNCTION backfill_progress(p_rate_window interval DEFAULT '15 minutes')
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, repository text, status text,
               processed_prs integer, total_prs integer, percent numeric,
               prs_per_minute numeric, eta_seconds numeric, last_chunk_number integer,
               chunks_processing bigint, chunks_failed bigint, leased_by text,
               lease_expires_at timestamptz, waiting_until timestamptz,
               cooldown_until timestamptz, last_error text, error_count integer,
               created_at timestamptz, updated_at timestamptz, started_at timestamptz,
               completed_at timestamptz, observed_at timestamptz, progressed_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := now();
    v_since timestamptz := now() - p_rate_window;
BEGIN
    RETURN QUERY
    WITH recent AS (
        SELECT c.backfill_state_id,
               sum(c.inserted_prs) AS prs,
               min(c.started_at) AS first_started
          FROM backfill_chunks c
         WHERE c.status = 'completed' AND c.completed_at > v_since
         GROUP BY c.backfill_state_id
    ), open_chunks AS (
        SELECT c.backfill_state_id,
               count(*) FILTER (WHERE c.status = 'processing') AS processing,
               count(*) FILTER (WHERE c.status = 'failed') AS failed
          FROM backfill_chunks c
         WHERE c.status <> 'completed'
         GROUP BY c.backfill_state_id
    ), rated AS (
        SELECT s.*, r.owner || '/' || r.name AS repository,
               CASE WHEN rc.prs > 0 THEN
                   round(rc.prs / greatest(extract(epoch FROM v_now - greatest(rc.first_started,
                         v_since)) / 60.0, 1.0 / 60), 2)
               END AS rate
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
          LEFT JOIN recent rc ON rc.backfill_state_id = s.id
    )
    SELECT x.id, x.repository_id, x.repository, x.status, x.processed_prs, x.total_prs,
           CASE WHEN x.total_prs > 0
                THEN round(least(x.processed_prs::numeric / x.total_prs * 100, 100), 2)
                WHEN x.status = 'completed' THEN 100::numeric END,
           coalesce(x.rate, 0),
           CASE WHEN x.status = 'completed' THEN 0::numeric
                WHEN x.rate > 0 AND x.total_prs IS NOT NULL
                THEN round(greatest(x.total_prs - x.processed_prs, 0) / x.rate * 60) END,
           x.last_chunk_number, coalesce(o.processing, 0), coalesce(o.failed, 0),
           x.leased_by, x.lease_expires_at, x.waiting_until, x.cooldown_until, x.last_error,
           x.error_count, x.created_at, x.updated_at, x.started_at, x.completed_at, v_now,
           x.progressed_at
      FROM rated x
      LEFT JOIN open_chunks o ON o.backfill_state_id = x.id
     ORDER BY x.created_at, x.repository;
END;
$$;

-- The progress rows as one value (stats and the console read it). PostgREST cuts every
-- set-returning result at the project's "Max rows" (1,000 by default on Supabase) without an
-- error, so `backfill_progress` over RPC would silently drop backfills past the 1,000th; a
-- jsonb scalar is one value: every row, one snapshot, one call. Each row carries how many of
-- its repository's PRs are refused (recorded in pull_request_failures), counted in one
-- grouped join, so backfill_progress() keeps its columns.
CREATE OR REPLACE FUNCTION backfill_progress_snapshot(p_rate_window interval DEFAULT '15 minutes')
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(p) || jsonb_build_object(
               'refused_prs', coalesce(f.refused, 0))
               ORDER BY p.created_at, p.repository), '[]'::jsonb)
      FROM backfill_progress(p_rate_window) p
      LEFT JOIN (SELECT repository_id, count(*) AS refused
                   FROM pull_request_failures GROUP BY repository_id) f
        ON f.repository_id = p.repository_id;
$$;

-- getChunkStatistics: chunk counts by status over a window, for all backfills or one.
-- `stuck` counts processing chunks stuck by the same condition as recovery_plan. The
-- statistics count backfill chunks (pages of history); sync chunks are reported by
-- sync_freshness_snapshot and visible in backfill_chunks by kind.
CREATE OR REPLACE FUNCTION chunk_statistics(p_since interval DEFAULT '24 hours',
                                            p_backfill_state_id uuid DEFAULT NULL,
                                            p_stuck_minutes integer DEFAULT 30)
RETURNS TABLE (processing bigint, completed bigint, failed bigint, stuck bigint, total bigint)
LANGUAGE plpgsql
STABLE
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_now timestamptz := now();
    v_since timestamptz := now() - p_since;
    v_stuck_before timestamptz := now() - make_interval(mins => p_stuck_minutes);
BEGIN
    RETURN QUERY
    SELECT count(*) FILTER (WHERE c.status = 'processing'),
           count(*) FILTER (WHERE c.status = 'completed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'processing'
                              AND c.started_at < v_stuck_before
                              AND NOT (s.claim_token IS NOT DISTINCT FROM c.claim_token
                                       AND coalesce(s.lease_expires_at > v_now, false))),
           count(*)
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
     WHERE c.started_at > v_since
       AND c.kind = 'backfill'
       AND (p_backfill_state_id IS NULL OR c.backfill_state_id = p_backfill_state_id);
END;
$$;

-- Freshness per repository, for `stats`, `stats --json` and the console, as one jsonb value
-- (PostgREST cuts row sets silently). fresh_as_of: GitHub's data is in the database as of
-- then (the start of the last finished sync; never synced: the backfill's start). lag_seconds:
-- now() minus that. Not completed: both NULL (the backfill itself is the news). `syncing`:
-- a sync cursor is held, or a sync chunk is processing (one join against the open chunks).
CREATE OR REPLACE FUNCTION sync_freshness_snapshot()
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
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
               'syncing', s.sync_cursor IS NOT NULL OR o.backfill_state_id IS NOT NULL,
               'sync_requested_at', s.sync_requested_at,
               'syncs', s.sync_count,
               'observed_at', now())
             ORDER BY s.created_at, r.owner, r.name), '[]'::jsonb)
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
      LEFT JOIN (SELECT DISTINCT c.backfill_state_id
                   FROM backfill_chunks c
                  WHERE c.status <> 'completed' AND c.status = 'processing'
                    AND c.kind = 'sync') o
        ON o.backfill_state_id = s.id;
$$;

-- backfill_workers as one value: PostgREST cuts set-returning results at its "Max rows"
-- without an error (see backfill_progress_snapshot). Only the workers a user watches: alive,
-- or heard from in the last ten minutes (one that just stopped is shown stopped); the
-- columns and liveness rule of backfill_workers(), filtered by the heartbeat index.
CREATE OR REPLACE FUNCTION backfill_workers_snapshot()
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.alive DESC, w.heartbeat_at DESC),
                    '[]'::jsonb)
      FROM (SELECT w.id, w.host, w.pid, w.status, w.backfill_state_id,
                   r.owner || '/' || r.name AS repository, w.detail, w.started_at,
                   w.heartbeat_at, w.stopped_at,
                   (w.status <> 'stopped' AND w.heartbeat_at > now() - interval '30 seconds')
                       AS alive
              FROM workers w
              LEFT JOIN progressive_backfill_state s ON s.id = w.backfill_state_id
              LEFT JOIN repositories r ON r.id = s.repository_id
             WHERE w.heartbeat_at > now() - interval '10 minutes') w;
$$;
