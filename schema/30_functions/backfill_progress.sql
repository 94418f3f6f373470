-- Progress per repository with a rate over a recent window and the ETA it implies, and since
-- when its stored PRs last grew (progressed_at).
CREATE OR REPLACE FUNCTION public.backfill_progress(p_rate_window interval DEFAULT '00:15:00'::interval)
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, repository text, status text, processed_prs integer, total_prs integer, percent numeric, prs_per_minute numeric, eta_seconds numeric, last_chunk_number integer, chunks_processing bigint, chunks_failed bigint, leased_by text, lease_expires_at timestamp with time zone, waiting_until timestamp with time zone, cooldown_until timestamp with time zone, last_error text, error_count integer, created_at timestamp with time zone, updated_at timestamp with time zone, started_at timestamp with time zone, completed_at timestamp with time zone, observed_at timestamp with time zone, progressed_at timestamp with time zone)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
#variable_conflict use_column
DECLARE
    v_now timestamptz := now();
    v_since timestamptz := now() - p_rate_window;
BEGIN
    RETURN QUERY
    WITH recent AS (
        SELECT c.backfill_state_id,
               sum(c.inserted_prs) AS prs,
               min(c.started_at) AS first_started
          FROM backfill_chunks c
         WHERE c.status = 'completed' AND c.completed_at > v_since
         GROUP BY c.backfill_state_id
    ), processing AS (
        SELECT c.backfill_state_id, count(*) AS n
          FROM backfill_chunks c
         WHERE c.status = 'processing'
         GROUP BY c.backfill_state_id
    ), rated AS (
        SELECT s.*, r.owner || '/' || r.name AS repository,
               CASE WHEN rc.prs > 0 THEN
                   round(rc.prs / greatest(extract(epoch FROM v_now - greatest(rc.first_started,
                         v_since)) / 60.0, 1.0 / 60), 2)
               END AS rate
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
          LEFT JOIN recent rc ON rc.backfill_state_id = s.id
    )
    SELECT x.id, x.repository_id, x.repository, x.status, x.processed_prs, x.total_prs,
           CASE WHEN x.total_prs > 0
                THEN round(least(x.processed_prs::numeric / x.total_prs * 100, 100), 2)
                WHEN x.status = 'completed' THEN 100::numeric END,
           coalesce(x.rate, 0),
           CASE WHEN x.status = 'completed' THEN 0::numeric
                WHEN x.rate > 0 AND x.total_prs IS NOT NULL
                THEN round(greatest(x.total_prs - x.processed_prs, 0) / x.rate * 60) END,
           x.last_chunk_number, coalesce(o.n, 0), coalesce(f.failed, 0)::bigint,
           x.leased_by, x.lease_expires_at, x.waiting_until, x.cooldown_until, x.last_error,
           x.error_count, x.created_at, x.updated_at, x.started_at, x.completed_at, v_now,
           x.progressed_at
      FROM rated x
      LEFT JOIN processing o ON o.backfill_state_id = x.id
      LEFT JOIN chunk_failure_counts f ON f.backfill_state_id = x.id
     ORDER BY x.created_at, x.repository;
END;
$function$;

REVOKE ALL ON FUNCTION backfill_progress(interval) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_progress(interval) TO service_role;
