-- `stats` states the database's size and how fast it grows.
--
-- Growth per day is computed, not sampled, so nothing new is stored and nothing grows:
--   bytes_per_pr   = the on-disk size (tables, indexes, TOAST) of the tables a PR fills
--                    (pull_requests, reviews, comments, contributors, review_threads,
--                    review_comments) / the PRs stored (repository_row_counts: kept by the
--                    writes, not counted per call)
--   prs_last_day   = PRs first stored in the last 24 hours by completed chunks, backfill and
--                    sync (backfill_chunks.inserted_prs; by the completed_at index)
--   bytes_per_day  = bytes_per_pr * prs_last_day
-- Chunk history, dead tuples and free space are in database_bytes but not in the growth.
--
-- pg_database_size needs CONNECT on the database (or pg_read_all_stats); the function runs
-- with its owner's rights so every role that runs the product reads it, and returns numbers
-- only.
--
-- Returns {database_bytes, pr_bytes, prs, bytes_per_pr (NULL with no PR), prs_last_day,
--          bytes_per_day}; sizes in bytes.
CREATE OR REPLACE FUNCTION public.database_size()
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET jit TO 'off'
AS $function$
    WITH sizes AS (
        SELECT pg_database_size(current_database()) AS database_bytes,
               (pg_total_relation_size('public.pull_requests')
                + pg_total_relation_size('public.reviews')
                + pg_total_relation_size('public.comments')
                + pg_total_relation_size('public.contributors')
                + pg_total_relation_size('public.review_threads')
                + pg_total_relation_size('public.review_comments')) AS pr_bytes,
               (SELECT coalesce(sum(k.pull_requests), 0)
                  FROM public.repository_row_counts k) AS prs,
               (SELECT coalesce(sum(c.inserted_prs), 0)
                  FROM public.backfill_chunks c
                 WHERE c.status = 'completed'
                   AND c.completed_at > now() - interval '24 hours') AS prs_last_day
    ), per_pr AS (
        SELECT s.*, CASE WHEN s.prs > 0 THEN round(s.pr_bytes::numeric / s.prs) END AS bytes_per_pr
          FROM sizes s
    )
    SELECT jsonb_build_object(
        'database_bytes', p.database_bytes,
        'pr_bytes', p.pr_bytes,
        'prs', p.prs,
        'bytes_per_pr', p.bytes_per_pr,
        'prs_last_day', p.prs_last_day,
        'bytes_per_day', coalesce(p.bytes_per_pr * p.prs_last_day, 0))
      FROM per_pr p;
$function$;

REVOKE ALL ON FUNCTION database_size() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION database_size() TO service_role;
