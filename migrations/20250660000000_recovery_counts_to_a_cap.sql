-- `recover --dry-run` (and a live run's first cleanup batch) reads what it shows, not the
-- whole history: the counts of old completed chunks, old failed chunks and silent workers
-- each stop at p_count_cap (default 100,000) rows, read oldest first by the (status,
-- started_at) index. Past the cap the report says so (eligible_at_least,
-- failed_eligible_at_least, workers_eligible_at_least: the count is a lower bound) instead of
-- counting on: six months of chunk history at 1,000 repositories is ~15M eligible rows and
-- counting them took 12-14 s. The cap is a parameter so a test proves the capped case with
-- a few rows. What gets deleted is unchanged.
--
-- A new parameter changes each function's signature: the old ones are dropped so a call by
-- name stays unambiguous.
DROP FUNCTION IF EXISTS recover_stuck_chunks(integer, integer, boolean, integer);
DROP FUNCTION IF EXISTS prune_completed_chunks(integer, integer, boolean, boolean);

CREATE OR REPLACE FUNCTION public.prune_completed_chunks(p_cleanup_days integer, p_batch integer DEFAULT 5000, p_dry_run boolean DEFAULT false, p_count boolean DEFAULT true, p_count_cap bigint DEFAULT 100000)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_cutoff timestamptz;
    v_workers_cutoff timestamptz;
    v_per_backfill jsonb := '[]'::jsonb;
    v_eligible bigint := 0;
    v_failed_eligible bigint := 0;
    v_workers_eligible bigint := 0;
    v_deleted bigint := 0;
    v_failed bigint := 0;
    v_workers bigint := 0;
    v_eligible_at_least boolean := false;
    v_failed_at_least boolean := false;
    v_workers_at_least boolean := false;
BEGIN
    IF p_cleanup_days IS NULL OR p_cleanup_days < 1 THEN
        RAISE EXCEPTION 'cleanup age must be at least 1 day' USING ERRCODE = '22023';
    END IF;
    IF p_batch IS NULL OR p_batch < 1 THEN
        RAISE EXCEPTION 'cleanup batch must be at least 1 row' USING ERRCODE = '22023';
    END IF;
    v_cutoff := now() - make_interval(days => p_cleanup_days);
    v_workers_cutoff := now() - make_interval(days => least(p_cleanup_days, 1));

    IF p_count_cap IS NULL OR p_count_cap < 1 THEN
        RAISE EXCEPTION 'count cap must be at least 1 row' USING ERRCODE = '22023';
    END IF;

    IF p_count OR p_dry_run THEN
        -- Each count reads at most p_count_cap + 1 rows, oldest first by index: the extra
        -- row only says the count stopped at the cap ("at least"), so the cost follows the
        -- cap, not the history (a six-month backlog is millions of rows).
        WITH capped AS (
            SELECT c.backfill_state_id
              FROM backfill_chunks c
             WHERE c.status = 'completed' AND c.started_at < v_cutoff
               AND c.completed_at < v_cutoff
             ORDER BY c.started_at
             LIMIT p_count_cap + 1
        ), numbered AS (
            SELECT k.backfill_state_id, row_number() OVER () AS n FROM capped k
        ), e AS (
            SELECT m.backfill_state_id, count(*) AS n
              FROM numbered m WHERE m.n <= p_count_cap
             GROUP BY m.backfill_state_id
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'backfill_state_id', e.backfill_state_id,
                   'repository', r.owner || '/' || r.name,
                   'chunks', e.n) ORDER BY r.owner, r.name), '[]'::jsonb),
               coalesce(sum(e.n), 0),
               EXISTS (SELECT 1 FROM numbered m WHERE m.n > p_count_cap)
          INTO v_per_backfill, v_eligible, v_eligible_at_least
          FROM e
          JOIN progressive_backfill_state s ON s.id = e.backfill_state_id
          JOIN repositories r ON r.id = s.repository_id;
        SELECT count(*) INTO v_failed_eligible
          FROM (SELECT 1 FROM backfill_chunks c
                 WHERE c.status = 'failed' AND c.started_at < v_cutoff
                 LIMIT p_count_cap + 1) f;
        v_failed_at_least := v_failed_eligible > p_count_cap;
        v_failed_eligible := least(v_failed_eligible, p_count_cap);
        SELECT count(*) INTO v_workers_eligible
          FROM (SELECT 1 FROM workers w WHERE w.heartbeat_at < v_workers_cutoff
                 LIMIT p_count_cap + 1) w;
        v_workers_at_least := v_workers_eligible > p_count_cap;
        v_workers_eligible := least(v_workers_eligible, p_count_cap);
    END IF;

    IF NOT p_dry_run THEN
        WITH candidates AS (
            SELECT c.id, c.backfill_state_id
              FROM backfill_chunks c
             WHERE c.status = 'completed' AND c.started_at < v_cutoff
               AND c.completed_at < v_cutoff
             ORDER BY c.started_at
             LIMIT p_batch
        ), states AS (
            SELECT s.id
              FROM progressive_backfill_state s
             WHERE s.id IN (SELECT k.backfill_state_id FROM candidates k)
             ORDER BY s.id
               FOR NO KEY UPDATE SKIP LOCKED
        ), victims AS (
            SELECT c.id
              FROM backfill_chunks c
             WHERE c.id IN (SELECT k.id FROM candidates k
                             WHERE k.backfill_state_id IN (SELECT id FROM states))
               FOR UPDATE SKIP LOCKED
        ), gone AS (
            DELETE FROM backfill_chunks c
             USING victims v
             WHERE c.id = v.id AND c.status = 'completed'
            RETURNING c.backfill_state_id
        ), counted AS (
            SELECT g.backfill_state_id, count(*) AS n FROM gone g GROUP BY g.backfill_state_id
        ), bumped AS (
            UPDATE progressive_backfill_state s
               SET chunks_pruned = s.chunks_pruned + k.n
              FROM counted k
             WHERE s.id = k.backfill_state_id
            RETURNING k.n
        )
        SELECT coalesce(sum(n), 0) INTO v_deleted FROM bumped;

        WITH victims AS (
            SELECT c.id
              FROM backfill_chunks c
             WHERE c.status = 'failed' AND c.started_at < v_cutoff
             ORDER BY c.started_at
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED
        ), gone AS (
            DELETE FROM backfill_chunks c USING victims v
             WHERE c.id = v.id AND c.status = 'failed'
            RETURNING 1
        )
        SELECT count(*) INTO v_failed FROM gone;

        WITH victims AS (
            SELECT w.id
              FROM workers w
             WHERE w.heartbeat_at < v_workers_cutoff
             ORDER BY w.heartbeat_at
             LIMIT p_batch
               FOR UPDATE SKIP LOCKED
        ), gone AS (
            DELETE FROM workers w USING victims v
             WHERE w.id = v.id AND w.heartbeat_at < v_workers_cutoff
            RETURNING 1
        )
        SELECT count(*) INTO v_workers FROM gone;
    END IF;

    RETURN jsonb_build_object(
        'cutoff', v_cutoff, 'batch', p_batch, 'eligible', v_eligible, 'deleted', v_deleted,
        'remaining', greatest(v_eligible - v_deleted, 0), 'per_backfill', v_per_backfill,
        'failed_eligible', v_failed_eligible, 'failed_deleted', v_failed,
        'workers_cutoff', v_workers_cutoff, 'workers_eligible', v_workers_eligible,
        'workers_deleted', v_workers,
        'count_cap', p_count_cap, 'eligible_at_least', v_eligible_at_least,
        'failed_eligible_at_least', v_failed_at_least,
        'workers_eligible_at_least', v_workers_at_least,
        'more', v_deleted >= p_batch OR v_failed >= p_batch OR v_workers >= p_batch);
END
$function$;

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

REVOKE ALL ON FUNCTION prune_completed_chunks(integer,integer,boolean,boolean,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION prune_completed_chunks(integer,integer,boolean,boolean,bigint) TO service_role;
REVOKE ALL ON FUNCTION recover_stuck_chunks(integer,integer,boolean,integer,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION recover_stuck_chunks(integer,integer,boolean,integer,bigint) TO service_role;
