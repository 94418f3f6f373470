-- The holder says it is waiting for GitHub's budget (visible to every console).
CREATE OR REPLACE FUNCTION public.set_backfill_waiting(p_backfill_state_id uuid, p_claim_token bigint, p_until timestamp with time zone)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH marked AS (
        UPDATE progressive_backfill_state
           SET waiting_until = p_until, updated_at = now()
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM marked);
$function$;

REVOKE ALL ON FUNCTION set_backfill_waiting(uuid,bigint,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION set_backfill_waiting(uuid,bigint,timestamp with time zone) TO service_role;
