-- The page size a backfill settled on, remembered on it (claim_backfill returns it),
-- written under the lease's fencing token.
CREATE OR REPLACE FUNCTION public.remember_page_size(p_backfill_state_id uuid, p_claim_token bigint, p_page_size integer)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH updated AS (
        UPDATE progressive_backfill_state
           SET page_size = greatest(1, least(100, p_page_size))
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
           AND page_size IS DISTINCT FROM greatest(1, least(100, p_page_size))
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM updated);
$function$;

REVOKE ALL ON FUNCTION remember_page_size(uuid,bigint,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION remember_page_size(uuid,bigint,integer) TO service_role;
