-- The one upsert of a refused PR: a refusal again counts one more attempt.
CREATE OR REPLACE FUNCTION public.record_pull_request_failure(p_repository_id uuid, p_chunk_id uuid, p_github_id text, p_number bigint, p_error text, p_position_cursor text DEFAULT NULL::text, p_position_order text DEFAULT NULL::text)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    INSERT INTO pull_request_failures AS f
           (repository_id, github_id, number, chunk_id, error, position_cursor, position_order)
    VALUES (p_repository_id, pull_request_failure_key(p_github_id), p_number, p_chunk_id,
            left(coalesce(p_error, 'refused'), 2000), p_position_cursor, p_position_order)
    ON CONFLICT (repository_id, github_id) DO UPDATE
       SET number = coalesce(EXCLUDED.number, f.number), chunk_id = EXCLUDED.chunk_id,
           error = EXCLUDED.error, failed_at = now(), attempts = f.attempts + 1,
           position_cursor = coalesce(EXCLUDED.position_cursor, f.position_cursor),
           position_order = coalesce(EXCLUDED.position_order, f.position_order);
$function$;

REVOKE ALL ON FUNCTION record_pull_request_failure(uuid,uuid,text,bigint,text,text,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION record_pull_request_failure(uuid,uuid,text,bigint,text,text,text) TO service_role;
