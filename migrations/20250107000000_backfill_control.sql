-- Controls over whole backfills: top-up, pause/resume, and a summary of outstanding work that
-- tells a worker run with --until-idle whether anything is left for it (now or soon).

-- A completed (or failed) backfill starts again from its stored cursor: only PRs created
-- since are fetched; history is not re-read.
CREATE FUNCTION reopen_backfill(p_backfill_state_id uuid, p_total_prs integer)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH reopened AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', completed_at = NULL, last_error = NULL, error_count = 0,
               cooldown_until = NULL, total_prs = NULLIF(p_total_prs, 0), updated_at = now()
         WHERE id = p_backfill_state_id AND status IN ('completed', 'failed')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM reopened);
$$;

-- Pausing stops new chunks at once (start_chunk requires 'active'); a page in flight still
-- commits. Resuming makes the backfill claimable again.
CREATE FUNCTION pause_backfill(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH paused AS (
        UPDATE progressive_backfill_state
           SET status = 'paused', updated_at = now()
         WHERE id = p_backfill_state_id AND status IN ('pending', 'active')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM paused);
$$;

CREATE FUNCTION resume_backfill(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH resumed AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', cooldown_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'paused'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM resumed);
$$;

-- Outstanding work, optionally for some backfills only: `claimable` can be claimed now,
-- `leased` is held by a live worker, `cooling` waits out an error cooldown.
CREATE FUNCTION backfill_work_summary(p_only uuid[] DEFAULT NULL)
RETURNS TABLE (claimable bigint, leased bigint, cooling bigint, paused bigint,
               completed bigint, failed bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND NOT coalesce(s.cooldown_until > now(), false)),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND s.lease_expires_at > now()),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND s.cooldown_until > now()),
        count(*) FILTER (WHERE s.status = 'paused'),
        count(*) FILTER (WHERE s.status = 'completed'),
        count(*) FILTER (WHERE s.status = 'failed')
      FROM progressive_backfill_state s
     WHERE p_only IS NULL OR s.id = ANY (p_only);
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'reopen_backfill(uuid, integer)'::regprocedure,
        'pause_backfill(uuid)'::regprocedure,
        'resume_backfill(uuid)'::regprocedure,
        'backfill_work_summary(uuid[])'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;
