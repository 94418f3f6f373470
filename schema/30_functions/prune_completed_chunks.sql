-- Recovery's cleanup, one batch. Eligible: completed chunks whose completion is older than
-- the cutoff (started_at <= completed_at, so the (status, started_at) index narrows the
-- scan). Each backfill's chunks_pruned grows by exactly the rows deleted, in the same
-- statement. Callers repeat it (one short transaction per batch) until `remaining` is 0 or
-- nothing was deleted.
CREATE OR REPLACE FUNCTION public.prune_completed_chunks(p_cleanup_days integer, p_batch integer DEFAULT 5000, p_dry_run boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_cutoff timestamptz;
    v_per_backfill jsonb;
    v_eligible bigint;
    v_deleted bigint := 0;
BEGIN
    IF p_cleanup_days IS NULL OR p_cleanup_days < 1 THEN
        RAISE EXCEPTION 'cleanup age must be at least 1 day' USING ERRCODE = '22023';
    END IF;
    IF p_batch IS NULL OR p_batch < 1 THEN
        RAISE EXCEPTION 'cleanup batch must be at least 1 row' USING ERRCODE = '22023';
    END IF;
    v_cutoff := now() - make_interval(days => p_cleanup_days);

    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'backfill_state_id', e.backfill_state_id,
               'repository', r.owner || '/' || r.name,
               'chunks', e.n) ORDER BY r.owner, r.name), '[]'::jsonb),
           coalesce(sum(e.n), 0)
      INTO v_per_backfill, v_eligible
      FROM (SELECT c.backfill_state_id, count(*) AS n
              FROM backfill_chunks c
             WHERE c.status = 'completed' AND c.started_at < v_cutoff
               AND c.completed_at < v_cutoff
             GROUP BY c.backfill_state_id) e
      JOIN progressive_backfill_state s ON s.id = e.backfill_state_id
      JOIN repositories r ON r.id = s.repository_id;

    IF NOT p_dry_run AND v_eligible > 0 THEN
        WITH states AS (
            SELECT s.id
              FROM progressive_backfill_state s
             WHERE s.id IN (SELECT (x->>'backfill_state_id')::uuid
                              FROM jsonb_array_elements(v_per_backfill) x)
             ORDER BY s.id
               FOR NO KEY UPDATE SKIP LOCKED
        ), victims AS (
            SELECT c.id
              FROM backfill_chunks c
             WHERE c.status = 'completed' AND c.started_at < v_cutoff
               AND c.completed_at < v_cutoff
               AND c.backfill_state_id IN (SELECT id FROM states)
             ORDER BY c.started_at
             LIMIT p_batch
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
    END IF;

    RETURN jsonb_build_object(
        'cutoff', v_cutoff, 'batch', p_batch, 'eligible', v_eligible, 'deleted', v_deleted,
        'remaining', v_eligible - v_deleted, 'per_backfill', v_per_backfill);
END
$function$;

REVOKE ALL ON FUNCTION prune_completed_chunks(integer,integer,boolean) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION prune_completed_chunks(integer,integer,boolean) TO service_role;
