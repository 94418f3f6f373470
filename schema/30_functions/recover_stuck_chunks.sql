-- Stuck-chunk recovery, as SQL so both transports share it:
--
--   1. find chunks 'processing' for longer than the threshold (database clock)
--   2. count which of their PRs were actually stored
--   3. mark them completed (>= 80% stored, flagged `recovered`) or failed ('partial x/y',
--      'no PR data')
--   4. release expired leases, so those backfills resume from their committed cursor
--   5. delete completed chunks older than the cleanup age, in bounded batches
--
-- The whole recovery (cleanup's first batch) in one call. A dry run is the same function
-- with p_dry_run = true: the same plan, computed by the same statements, returned in full;
-- only the writes are skipped.
--
-- Safety: every write rechecks its condition in its own WHERE (status = 'processing' and the
-- threshold, lease still expired), so a chunk its worker finishes meanwhile is never
-- overwritten. Rows are taken with SKIP LOCKED: recovery never waits on a worker's row lock,
-- so it cannot deadlock with commit_chunk (which locks backfill row, then chunk); a row it
-- skipped is reported 'busy' and left for the next run. Live runs serialise on an advisory
-- lock, so two recoveries at once do the work once and the second finds nothing left.
--
-- Returns
--   {dry_run, stuck_minutes, cleanup_days, observed_at, stuck_before,
--    chunks: [recovery_plan row + outcome], leases: [...], cleanup: prune_completed_chunks}
-- outcome: 'planned' (dry run), 'applied', 'skipped' (no longer stuck: its worker finished
-- it meanwhile) or 'busy' (another transaction holds the row; left for the next run).
CREATE OR REPLACE FUNCTION public.recover_stuck_chunks(p_stuck_minutes integer, p_cleanup_days integer, p_dry_run boolean DEFAULT false, p_cleanup_batch integer DEFAULT 5000, p_count_cap bigint DEFAULT 100000)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_threshold interval;
    v_plan jsonb;
    v_applied uuid[] := '{}';
    v_leases jsonb;
    v_released uuid[] := '{}';
    v_cleanup jsonb;
BEGIN
    IF p_stuck_minutes IS NULL OR p_stuck_minutes < 1 THEN
        RAISE EXCEPTION 'stuck threshold must be at least 1 minute' USING ERRCODE = '22023';
    END IF;
    IF p_cleanup_days IS NULL OR p_cleanup_days < 1 THEN
        RAISE EXCEPTION 'cleanup age must be at least 1 day' USING ERRCODE = '22023';
    END IF;
    v_threshold := make_interval(mins => p_stuck_minutes);
    IF NOT p_dry_run THEN
        -- "recovery" in ASCII: one live recovery at a time; a second waits, then finds
        -- the work done.
        PERFORM pg_advisory_xact_lock(8243104023350440569);
    END IF;

    -- Steps 1-3: the plan (identical for dry and live runs).
    SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.started_at, p.chunk_id), '[]'::jsonb)
      INTO v_plan
      FROM recovery_plan(p_stuck_minutes) p;

    IF NOT p_dry_run THEN
        WITH plan AS (
            SELECT x.chunk_id, x.decision, x.reason
              FROM jsonb_to_recordset(v_plan) AS x (chunk_id uuid, decision text, reason text)
        ), locked AS (
            SELECT c.id
              FROM backfill_chunks c
             WHERE c.id IN (SELECT chunk_id FROM plan)
               AND c.status = 'processing' AND c.started_at < now() - v_threshold
             ORDER BY c.id
               FOR NO KEY UPDATE SKIP LOCKED
        ), changed AS (
            UPDATE backfill_chunks c
               SET status = plan.decision,
                   completed_at = CASE WHEN plan.decision = 'completed' THEN now() END,
                   failed_at = CASE WHEN plan.decision = 'failed' THEN now() END,
                   error = CASE WHEN plan.decision = 'failed' THEN plan.reason END,
                   recovered = (plan.decision = 'completed')
              FROM plan
             WHERE c.id = plan.chunk_id
               AND c.id IN (SELECT id FROM locked)
               AND c.status = 'processing' AND c.started_at < now() - v_threshold
            RETURNING c.id
        )
        SELECT coalesce(array_agg(id), '{}') INTO v_applied FROM changed;
    END IF;

    SELECT coalesce(jsonb_agg(e.item || jsonb_build_object('outcome',
               CASE WHEN p_dry_run THEN 'planned'
                    WHEN a.id IS NOT NULL THEN 'applied'
                    WHEN c.status = 'processing' AND c.started_at < now() - v_threshold
                    THEN 'busy'
                    ELSE 'skipped' END) ORDER BY e.ord), '[]'::jsonb)
      INTO v_plan
      FROM jsonb_array_elements(v_plan) WITH ORDINALITY AS e (item, ord)
      LEFT JOIN unnest(v_applied) AS a (id) ON a.id = (e.item->>'chunk_id')::uuid
      LEFT JOIN backfill_chunks c ON c.id = (e.item->>'chunk_id')::uuid;

    -- Step 4: expired leases. The claim token stays, so the old holder remains fenced off.
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'backfill_state_id', s.id, 'repository', r.owner || '/' || r.name,
               'leased_by', s.leased_by, 'lease_expires_at', s.lease_expires_at,
               'cursor', s.cursor) ORDER BY s.lease_expires_at, s.id), '[]'::jsonb)
      INTO v_leases
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE s.lease_expires_at <= now();

    IF NOT p_dry_run THEN
        WITH locked AS (
            SELECT s.id
              FROM progressive_backfill_state s
             WHERE s.id IN (SELECT (x->>'backfill_state_id')::uuid
                              FROM jsonb_array_elements(v_leases) x)
               AND s.lease_expires_at <= now()
             ORDER BY s.id
               FOR NO KEY UPDATE SKIP LOCKED
        ), released AS (
            UPDATE progressive_backfill_state s
               SET leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
                   updated_at = now()
             WHERE s.id IN (SELECT id FROM locked) AND s.lease_expires_at <= now()
            RETURNING s.id
        )
        SELECT coalesce(array_agg(id), '{}') INTO v_released FROM released;
    END IF;

    SELECT coalesce(jsonb_agg(e.item || jsonb_build_object('outcome',
               CASE WHEN p_dry_run THEN 'planned'
                    WHEN a.id IS NOT NULL THEN 'applied'
                    WHEN s.lease_expires_at <= now() THEN 'busy'
                    ELSE 'skipped' END) ORDER BY e.ord), '[]'::jsonb)
      INTO v_leases
      FROM jsonb_array_elements(v_leases) WITH ORDINALITY AS e (item, ord)
      LEFT JOIN unnest(v_released) AS a (id) ON a.id = (e.item->>'backfill_state_id')::uuid
      LEFT JOIN progressive_backfill_state s ON s.id = (e.item->>'backfill_state_id')::uuid;

    -- Step 5: the first cleanup batch.
    v_cleanup := prune_completed_chunks(p_cleanup_days, p_cleanup_batch, p_dry_run, true, p_count_cap);

    RETURN jsonb_build_object(
        'dry_run', p_dry_run, 'stuck_minutes', p_stuck_minutes,
        'cleanup_days', p_cleanup_days, 'observed_at', now(),
        'stuck_before', now() - v_threshold,
        'chunks', v_plan, 'leases', v_leases, 'cleanup', v_cleanup);
END
$function$;

REVOKE ALL ON FUNCTION recover_stuck_chunks(integer,integer,boolean,integer,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION recover_stuck_chunks(integer,integer,boolean,integer,bigint) TO service_role;
