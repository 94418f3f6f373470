-- The stored comments of p_kind of the repository that a full listing of GitHub's (p_listed:
-- every node id it gave) does not have, created before the listing began (p_listed_at: a
-- comment created since may be stored but not listed). Candidates only: a listing by pages
-- can skip an item when another is deleted meanwhile, so each is confirmed gone before
-- deletion. Raises 22023 for an unknown kind.
CREATE OR REPLACE FUNCTION public.comment_deletion_candidates(p_kind text, p_backfill_state_id uuid, p_listed text[], p_listed_at timestamp with time zone)
 RETURNS TABLE(github_id text, database_id bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Only the branch of p_kind's table runs: the other's kind is a constant that does not
    -- match, a filter decided once before its scan.
    SELECT c.github_id, c.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN (SELECT 'comments' AS kind, pull_request_id, github_id, database_id, created_at
              FROM comments
            UNION ALL
            SELECT 'review_comments', pull_request_id, github_id, database_id, created_at
              FROM review_comments) c ON c.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND c.kind = comment_kind(p_kind)
       AND c.created_at < p_listed_at
       AND NOT c.github_id = ANY (p_listed)
     ORDER BY c.github_id;
$function$;

REVOKE ALL ON FUNCTION comment_deletion_candidates(text,uuid,text[],timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_deletion_candidates(text,uuid,text[],timestamp with time zone) TO service_role;
