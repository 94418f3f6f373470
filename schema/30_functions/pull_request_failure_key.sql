-- What a failure is keyed by: the PR's id, bounded to what the primary key's index holds.
CREATE OR REPLACE FUNCTION public.pull_request_failure_key(p_github_id text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT CASE WHEN p_github_id IS NULL OR p_github_id = '' THEN '(no id)'
                WHEN length(p_github_id) <= 255 THEN p_github_id
                ELSE left(p_github_id, 200) || '... (md5 ' || md5(p_github_id) || ')' END;
$function$;

REVOKE ALL ON FUNCTION pull_request_failure_key(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION pull_request_failure_key(text) TO service_role;
