-- The stored comments of the repository that a full listing of GitHub's (p_listed: every
-- node id it gave) does not have, created before the listing began (p_listed_at: a comment
-- created since may be stored but not listed). Candidates only: a listing by pages can skip
-- an item when another is deleted meanwhile, so each is confirmed gone before deletion.
CREATE OR REPLACE FUNCTION public.comment_deletion_candidates(p_backfill_state_id uuid, p_listed text[], p_listed_at timestamp with time zone)
 RETURNS TABLE(github_id text, database_id bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT cm.github_id, cm.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN comments cm ON cm.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND cm.created_at < p_listed_at
       AND NOT cm.github_id = ANY (p_listed)
     ORDER BY cm.github_id;
$function$;

REVOKE ALL ON FUNCTION comment_deletion_candidates(uuid,text[],timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_deletion_candidates(uuid,text[],timestamp with time zone) TO service_role;
