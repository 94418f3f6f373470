-- Pausing stops new chunks at once (start_chunk requires 'active'); a page in flight still
-- commits. Resuming makes the backfill claimable again.
CREATE OR REPLACE FUNCTION public.pause_backfill(p_backfill_state_id uuid)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH paused AS (
        UPDATE progressive_backfill_state
           SET status = 'paused', updated_at = now()
         WHERE id = p_backfill_state_id AND status IN ('pending', 'active')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM paused);
$function$;

REVOKE ALL ON FUNCTION pause_backfill(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION pause_backfill(uuid) TO service_role;
