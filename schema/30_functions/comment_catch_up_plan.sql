-- The completed repositories with where their catch-up starts (`since`: the watermark, else
-- the backfill's start, when its walk read GitHub as it was) and when they were last verified.
CREATE OR REPLACE FUNCTION public.comment_catch_up_plan()
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, owner text, name text, since timestamp with time zone, verified_at timestamp with time zone, installation_id bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT s.id, r.id, r.owner, r.name,
           coalesce(s.comments_caught_up_to, s.started_at, s.created_at),
           s.comments_verified_at, r.installation_id
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name;
$function$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;
