-- getChunkStatistics: chunk counts by status over a window, for all backfills or one.
-- `stuck` counts processing chunks stuck by the same condition as recovery_plan. The
-- statistics count backfill chunks (pages of history); sync chunks are reported by
-- sync_freshness_snapshot and visible in backfill_chunks by kind.
CREATE OR REPLACE FUNCTION public.chunk_statistics(p_since interval DEFAULT '24:00:00'::interval, p_backfill_state_id uuid DEFAULT NULL::uuid, p_stuck_minutes integer DEFAULT 30)
 RETURNS TABLE(processing bigint, completed bigint, failed bigint, stuck bigint, total bigint)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION chunk_statistics(interval,uuid,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION chunk_statistics(interval,uuid,integer) TO service_role;
