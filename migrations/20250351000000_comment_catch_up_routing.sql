-- The catch-up plan names each repository's installation (NULL: any credential), so each
-- repository's REST requests go to the budget of the installation that can see it.
DROP FUNCTION comment_catch_up_plan();

CREATE FUNCTION comment_catch_up_plan()
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               since timestamptz, verified_at timestamptz, installation_id bigint)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT s.id, r.id, r.owner, r.name,
           coalesce(s.comments_caught_up_to, s.started_at, s.created_at),
           s.comments_verified_at, r.installation_id
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name;
$$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;
