-- Refused PRs of the leased repository due to be asked for again alone: refused at most 3
-- times before (3 retries), the last time 1, 4 or 16 minutes ago (after the 1st, 2nd, 3rd
-- refusal), oldest first. Fenced by the lease: only its holder asks.
CREATE OR REPLACE FUNCTION public.pull_requests_to_retry(p_backfill_state_id uuid, p_claim_token bigint, p_limit integer DEFAULT 10)
 RETURNS TABLE(github_id text, node_id text, number bigint, position_cursor text, position_order text, attempts integer)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT f.github_id,
           CASE WHEN f.github_id LIKE 'cursor:%' OR f.github_id LIKE '(no id%'
                     OR f.github_id LIKE '%... (md5 %' THEN NULL
                ELSE f.github_id END,
           f.number, f.position_cursor, f.position_order, f.attempts
      FROM progressive_backfill_state s
      JOIN pull_request_failures f ON f.repository_id = s.repository_id
     WHERE s.id = p_backfill_state_id AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND f.attempts <= 3
       AND f.failed_at <= now() - make_interval(secs => 60 * 4 ^ (f.attempts - 1))
     ORDER BY f.failed_at, f.github_id
     LIMIT greatest(p_limit, 0);
$function$;

REVOKE ALL ON FUNCTION pull_requests_to_retry(uuid,bigint,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION pull_requests_to_retry(uuid,bigint,integer) TO service_role;
