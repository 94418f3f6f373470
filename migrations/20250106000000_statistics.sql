-- Monitoring, computed in the database from stored timestamps, so every process and console
-- sees the same numbers.

-- The spec's getChunkStatistics: chunk counts by status over a window, for all backfills or
-- one. `stuck` counts processing chunks older than the stuck threshold.
CREATE FUNCTION chunk_statistics(p_since interval DEFAULT interval '24 hours',
                                 p_backfill_state_id uuid DEFAULT NULL,
                                 p_stuck_minutes integer DEFAULT 30)
RETURNS TABLE (processing bigint, completed bigint, failed bigint, stuck bigint, total bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT count(*) FILTER (WHERE c.status = 'processing'),
           count(*) FILTER (WHERE c.status = 'completed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'processing'
                              AND c.started_at < now() - make_interval(mins => p_stuck_minutes)),
           count(*)
      FROM backfill_chunks c
     WHERE c.started_at > now() - p_since
       AND (p_backfill_state_id IS NULL OR c.backfill_state_id = p_backfill_state_id);
$$;

-- Progress per repository with a rate over a recent window and the ETA it implies.
CREATE FUNCTION backfill_progress(p_rate_window interval DEFAULT interval '15 minutes')
RETURNS TABLE (
    backfill_state_id uuid, repository_id uuid, repository text, status text,
    processed_prs integer, total_prs integer, percent numeric, prs_per_minute numeric,
    eta_seconds numeric, last_chunk_number integer, chunks_processing bigint,
    chunks_failed bigint, leased_by text, lease_expires_at timestamptz,
    waiting_until timestamptz, cooldown_until timestamptz, last_error text, error_count integer,
    created_at timestamptz, updated_at timestamptz, started_at timestamptz,
    completed_at timestamptz, observed_at timestamptz)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH recent AS (
        SELECT c.backfill_state_id,
               sum(c.inserted_prs) AS prs,
               min(c.started_at) AS first_started
          FROM backfill_chunks c
         WHERE c.status = 'completed' AND c.completed_at > now() - p_rate_window
         GROUP BY c.backfill_state_id
    ), open_chunks AS (
        SELECT c.backfill_state_id,
               count(*) FILTER (WHERE c.status = 'processing') AS processing,
               count(*) FILTER (WHERE c.status = 'failed') AS failed
          FROM backfill_chunks c
         WHERE c.status <> 'completed'
         GROUP BY c.backfill_state_id
    ), rated AS (
        SELECT s.*, r.owner || '/' || r.name AS repository,
               CASE WHEN rc.prs > 0 THEN
                   round(rc.prs / greatest(extract(epoch FROM now() - greatest(rc.first_started,
                         now() - p_rate_window)) / 60.0, 1.0 / 60), 2)
               END AS rate
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
          LEFT JOIN recent rc ON rc.backfill_state_id = s.id
    )
    SELECT x.id, x.repository_id, x.repository, x.status, x.processed_prs, x.total_prs,
           CASE WHEN x.total_prs > 0
                THEN round(least(x.processed_prs::numeric / x.total_prs * 100, 100), 2)
                WHEN x.status = 'completed' THEN 100 END,
           coalesce(x.rate, 0),
           CASE WHEN x.status = 'completed' THEN 0
                WHEN x.rate > 0 AND x.total_prs IS NOT NULL
                THEN round(greatest(x.total_prs - x.processed_prs, 0) / x.rate * 60) END,
           x.last_chunk_number, coalesce(o.processing, 0), coalesce(o.failed, 0),
           x.leased_by, x.lease_expires_at, x.waiting_until, x.cooldown_until, x.last_error,
           x.error_count, x.created_at, x.updated_at, x.started_at, x.completed_at, now()
      FROM rated x
      LEFT JOIN open_chunks o ON o.backfill_state_id = x.id
     ORDER BY x.created_at, x.repository;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'chunk_statistics(interval, uuid, integer)'::regprocedure,
        'backfill_progress(interval)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;
