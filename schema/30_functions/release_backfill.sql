-- The holder lets its lease go (fenced by its claim token).
CREATE OR REPLACE FUNCTION public.release_backfill(p_backfill_state_id uuid, p_claim_token bigint)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH released AS (
        UPDATE progressive_backfill_state
           SET leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               updated_at = now()
         WHERE id = p_backfill_state_id
           AND claim_token = p_claim_token
           AND leased_by IS NOT NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM released);
$function$;

REVOKE ALL ON FUNCTION release_backfill(uuid,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION release_backfill(uuid,bigint) TO service_role;
