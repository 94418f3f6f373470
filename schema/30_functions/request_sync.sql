-- "Sync now": the next worker (or `backfill-console sync`) syncs these repositories whatever
-- the interval. Returns how many completed repositories were marked.
CREATE OR REPLACE FUNCTION public.request_sync(p_only uuid[] DEFAULT NULL::uuid[])
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH marked AS (
        UPDATE progressive_backfill_state s
           SET sync_requested_at = now()
         WHERE s.status = 'completed' AND (p_only IS NULL OR s.id = ANY (p_only))
        RETURNING 1
    )
    SELECT count(*)::integer FROM marked;
$function$;

REVOKE ALL ON FUNCTION request_sync(uuid[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION request_sync(uuid[]) TO service_role;
