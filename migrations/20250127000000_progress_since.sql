-- "Why and since when" (issue 14): a backfill that is not advancing shows since when. The
-- state row remembers when its stored PRs last grew (progressed_at), whichever function moved
-- them (a chunk, a sync, a split page): one trigger, not a line in each of them. Progress
-- reads return it; core.monitoring.standing() turns it into the status users see.

ALTER TABLE progressive_backfill_state ADD COLUMN progressed_at timestamptz;
UPDATE progressive_backfill_state SET progressed_at = updated_at WHERE processed_prs > 0;

CREATE FUNCTION note_progress() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.processed_prs > OLD.processed_prs THEN
        NEW.progressed_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER note_progress BEFORE UPDATE OF processed_prs ON progressive_backfill_state
    FOR EACH ROW EXECUTE FUNCTION note_progress();

-- The return type grows by one column: drop and create (the snapshot reads it).
DROP FUNCTION backfill_progress_snapshot(interval);
DROP FUNCTION backfill_progress(interval);

CREATE FUNCTION backfill_progress(p_rate_window interval DEFAULT interval '15 minutes')
RETURNS TABLE (
    backfill_state_id uuid, repository_id uuid, repository text, status text,
    processed_prs integer, total_prs integer, percent numeric, prs_per_minute numeric,
    eta_seconds numeric, last_chunk_number integer, chunks_processing bigint,
    chunks_failed bigint, leased_by text, lease_expires_at timestamptz,
    waiting_until timestamptz, cooldown_until timestamptz, last_error text, error_count integer,
    created_at timestamptz, updated_at timestamptz, started_at timestamptz,
    completed_at timestamptz, observed_at timestamptz, progressed_at timestamptz)
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
           x.error_count, x.created_at, x.updated_at, x.started_at, x.completed_at, now(),
           x.progressed_at
      FROM rated x
      LEFT JOIN open_chunks o ON o.backfill_state_id = x.id
     ORDER BY x.created_at, x.repository;
$$;

CREATE FUNCTION backfill_progress_snapshot(p_rate_window interval DEFAULT interval '15 minutes')
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.repository), '[]'::jsonb)
      FROM backfill_progress(p_rate_window) p;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'backfill_progress(interval)'::regprocedure,
        'backfill_progress_snapshot(interval)'::regprocedure,
        'note_progress()'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
