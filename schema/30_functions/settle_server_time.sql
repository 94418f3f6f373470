-- The measured response time of a granted request replaces its estimate. Returns whether
-- the reservation was still there (it leaves with its window).
CREATE OR REPLACE FUNCTION public.settle_server_time(p_id bigint, p_seconds double precision)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH settled AS (
        UPDATE github_server_time
           SET seconds = greatest(0, p_seconds), settled = true, settled_at = clock_timestamp()
         WHERE id = p_id AND NOT settled
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM settled);
$function$;

REVOKE ALL ON FUNCTION settle_server_time(bigint,double precision) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION settle_server_time(bigint,double precision) TO service_role;
