-- A paused backfill becomes claimable again (pause_backfill).
CREATE OR REPLACE FUNCTION public.resume_backfill(p_backfill_state_id uuid)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH resumed AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', cooldown_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'paused'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM resumed);
$function$;

REVOKE ALL ON FUNCTION resume_backfill(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION resume_backfill(uuid) TO service_role;
