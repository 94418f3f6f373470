-- The progress rows as one value (stats and the console read it). PostgREST cuts every
-- set-returning result at the project's "Max rows" (1,000 by default on Supabase) without an
-- error, so `backfill_progress` over RPC would silently drop backfills past the 1,000th; a
-- jsonb scalar is one value: every row, one snapshot, one call. Each row carries how many of
-- its repository's PRs are refused (recorded in pull_request_failures), counted in one
-- grouped join, so backfill_progress() keeps its columns.
CREATE OR REPLACE FUNCTION public.backfill_progress_snapshot(p_rate_window interval DEFAULT '00:15:00'::interval)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
    SELECT coalesce(jsonb_agg(to_jsonb(p) || jsonb_build_object(
               'refused_prs', coalesce(f.refused, 0))
               ORDER BY p.created_at, p.repository), '[]'::jsonb)
      FROM backfill_progress(p_rate_window) p
      LEFT JOIN (SELECT repository_id, count(*) AS refused
                   FROM pull_request_failures GROUP BY repository_id) f
        ON f.repository_id = p.repository_id;
$function$;

REVOKE ALL ON FUNCTION backfill_progress_snapshot(interval) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_progress_snapshot(interval) TO service_role;
