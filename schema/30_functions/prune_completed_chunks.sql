-- Recovery's cleanup, one batch. Eligible: completed chunks whose completion is older than
-- the cutoff (started_at <= completed_at, so the (status, started_at) index narrows the
-- scan). Each backfill's chunks_pruned grows by exactly the rows deleted, in the same
-- statement. Callers repeat it (one short transaction per batch) until `remaining` is 0 or
-- nothing was deleted. Each count reads at most p_count_cap + 1 rows (oldest first, by that
-- index); past the cap the report's *_at_least flags say the number is a lower bound.
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

REVOKE ALL ON FUNCTION prune_completed_chunks(integer,integer,boolean,boolean,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION prune_completed_chunks(integer,integer,boolean,boolean,bigint) TO service_role;
