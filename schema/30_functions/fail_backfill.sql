-- The backfill cannot go on (the repository is gone): failed with the reason, lease released.
CREATE OR REPLACE FUNCTION public.fail_backfill(p_backfill_state_id uuid, p_claim_token bigint, p_reason text)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH failed AS (
        UPDATE progressive_backfill_state
           SET status = 'failed', last_error = left(coalesce(NULLIF(p_reason, ''), 'failed'), 2000),
               leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               completed_at = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM failed);
$function$;

REVOKE ALL ON FUNCTION fail_backfill(uuid,bigint,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION fail_backfill(uuid,bigint,text) TO service_role;
