-- One row per completed repository and listing (`kind`: 'comments' | 'review_comments'):
-- where its catch-up starts (the listing's watermark, else the backfill's start, when its walk
-- read GitHub as it was), the ETag of that start's first page (NULL: none kept), when it was
-- last verified, and the repository's installation.
CREATE OR REPLACE FUNCTION public.comment_catch_up_plan()
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, owner text, name text, kind text, since timestamp with time zone, verified_at timestamp with time zone, installation_id bigint, etag text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT s.id, r.id, r.owner, r.name, k.kind,
           coalesce(CASE k.kind WHEN 'comments' THEN s.comments_caught_up_to
                                ELSE s.review_comments_caught_up_to END,
                    s.started_at, s.created_at),
           CASE k.kind WHEN 'comments' THEN s.comments_verified_at
                       ELSE s.review_comments_verified_at END,
           r.installation_id,
           CASE k.kind WHEN 'comments' THEN s.comments_etag ELSE s.review_comments_etag END
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     CROSS JOIN (VALUES ('comments'), ('review_comments')) AS k (kind)
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name, k.kind;
$function$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;
