-- The last word on refused PRs for a backfill's last_error: this page's, else how many the
-- repository has (NULL when none).
CREATE OR REPLACE FUNCTION public.refused_note(p_repository_id uuid, p_refused jsonb)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT CASE
        WHEN jsonb_array_length(p_refused) > 0 THEN
            format('%s PR(s) refused on this page (see pull_request_failures): %s',
                   jsonb_array_length(p_refused), p_refused->0->>'error')
        ELSE (SELECT format('%s PR(s) refused (see pull_request_failures): %s', count(*),
                            (array_agg(f.error ORDER BY f.failed_at DESC))[1])
                FROM pull_request_failures f
               WHERE f.repository_id = p_repository_id
              HAVING count(*) > 0)
    END;
$function$;

REVOKE ALL ON FUNCTION refused_note(uuid,jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION refused_note(uuid,jsonb) TO service_role;
