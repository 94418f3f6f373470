-- Whether a repository's "sync now" (its sync_requested_at) is not yet honoured by its data,
-- fresh as of p_fresh_as_of (its fresh_as_of; NULL: never synced).
CREATE OR REPLACE FUNCTION public.sync_request_open(p_requested_at timestamp with time zone, p_fresh_as_of timestamp with time zone)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT coalesce(p_requested_at > coalesce(p_fresh_as_of, '-infinity'), false);
$function$;

REVOKE ALL ON FUNCTION sync_request_open(timestamp with time zone,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION sync_request_open(timestamp with time zone,timestamp with time zone) TO service_role;
