-- One jsonb array (PostgREST cuts row sets at its "Max rows" silently): per repository,
-- {repository_id, pull_requests, reviews, comments, review_threads, review_comments};
-- p_repository_id NULL: every repository, else that one only.
CREATE OR REPLACE FUNCTION public.repository_data_counts(p_repository_id uuid DEFAULT NULL::uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'repository_id', r.id,
               'pull_requests', (SELECT count(*) FROM pull_requests p
                                  WHERE p.repository_id = r.id),
               'reviews', (SELECT count(*) FROM reviews v
                             JOIN pull_requests p ON p.id = v.pull_request_id
                            WHERE p.repository_id = r.id),
               'comments', (SELECT count(*) FROM comments m
                              JOIN pull_requests p ON p.id = m.pull_request_id
                             WHERE p.repository_id = r.id),
               'review_threads', (SELECT count(*) FROM review_threads t
                                    JOIN pull_requests p ON p.id = t.pull_request_id
                                   WHERE p.repository_id = r.id),
               'review_comments', (SELECT count(*) FROM review_comments c
                                     JOIN pull_requests p ON p.id = c.pull_request_id
                                    WHERE p.repository_id = r.id))
           ORDER BY r.id), '[]'::jsonb)
      FROM repositories r
     WHERE p_repository_id IS NULL OR r.id = p_repository_id;
$function$;

REVOKE ALL ON FUNCTION repository_data_counts(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION repository_data_counts(uuid) TO service_role;
