-- One jsonb array (PostgREST cuts row sets at its "Max rows" silently): per repository,
-- {repository_id, pull_requests, reviews, comments, review_threads, review_comments};
-- p_repository_id NULL: every repository, else that one only. One row per repository from
-- repository_row_counts (kept exact by the writes' triggers), none from the stored tables.
CREATE OR REPLACE FUNCTION public.repository_data_counts(p_repository_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'repository_id', r.id,
               'pull_requests', coalesce(k.pull_requests, 0),
               'reviews', coalesce(k.reviews, 0),
               'comments', coalesce(k.comments, 0),
               'review_threads', coalesce(k.review_threads, 0),
               'review_comments', coalesce(k.review_comments, 0))
           ORDER BY r.id), '[]'::jsonb)
      FROM repositories r
      LEFT JOIN repository_row_counts k ON k.repository_id = r.id
     WHERE p_repository_id IS NULL OR r.id = p_repository_id;
$function$;

REVOKE ALL ON FUNCTION repository_data_counts(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION repository_data_counts(uuid) TO service_role;
