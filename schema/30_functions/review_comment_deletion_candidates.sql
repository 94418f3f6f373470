-- The stored review comments of the repository that a full listing of GitHub's (p_listed:
-- every node id it gave) does not have, created before the listing began: candidates only,
-- each confirmed gone before deletion (as comment_deletion_candidates).
CREATE OR REPLACE FUNCTION public.review_comment_deletion_candidates(p_backfill_state_id uuid, p_listed text[], p_listed_at timestamp with time zone)
 RETURNS TABLE(github_id text, database_id bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT rc.github_id, rc.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN review_comments rc ON rc.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND rc.created_at < p_listed_at
       AND NOT rc.github_id = ANY (p_listed)
     ORDER BY rc.github_id;
$function$;

REVOKE ALL ON FUNCTION review_comment_deletion_candidates(uuid,text[],timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION review_comment_deletion_candidates(uuid,text[],timestamp with time zone) TO service_role;
