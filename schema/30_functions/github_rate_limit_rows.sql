-- The budget table as a function, so both transports read it the same way (one named call
-- each, like every other read): one row per token, newest report first.
CREATE OR REPLACE FUNCTION public.github_rate_limit_rows()
 RETURNS SETOF github_rate_limits
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT * FROM github_rate_limits ORDER BY observed_at DESC;
$function$;

REVOKE ALL ON FUNCTION github_rate_limit_rows() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION github_rate_limit_rows() TO service_role;
