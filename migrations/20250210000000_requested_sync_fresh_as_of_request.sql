-- A requested sync ("sync now": `backfill-console sync`, the console's `n` key, both through
-- request_sync) means "fresh as of when it was asked". Until now a request counted as
-- honoured once any walk finished after it (synced_at > sync_requested_at), so the first sync
-- after a worker was killed mid-walk resumed the old walk, finished it and reported "synced"
-- although that walk began before the request: changes made on GitHub between its start and
-- the request were behind its cursor and stayed out of the database until a second sync.
--
-- The rule, in one place (sync_request_open): a request is open while the data is not fresh
-- as of it, i.e. while fresh_as_of (the start of the last finished walk) is before
-- sync_requested_at. A resumed walk that began before the request still finishes (its
-- watermark moves to the newest updatedAt it committed, never further), and the request
-- stays open, so the same `sync` (or the next worker) walks again from the top down to that
-- new watermark minus the margin, which reaches every change made after the old walk began.

-- Whether a repository's "sync now" (its sync_requested_at) is not yet honoured by its data,
-- fresh as of p_fresh_as_of (its fresh_as_of; NULL: never synced).
CREATE FUNCTION sync_request_open(p_requested_at timestamptz, p_fresh_as_of timestamptz)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(p_requested_at > coalesce(p_fresh_as_of, '-infinity'), false);
$$;

-- Whether the repository of this backfill has a "sync now" not yet honoured (the worker asks
-- after finishing a walk: finished but still open means walk again before saying "synced").
CREATE FUNCTION sync_request_pending(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce((SELECT sync_request_open(s.sync_requested_at, s.fresh_as_of)
                       FROM progressive_backfill_state s
                      WHERE s.id = p_backfill_state_id), false);
$$;

-- claim_sync as in 20250160000000_installations.sql, a request being open by the rule above
-- (it was: requested after the last walk finished) and open requests served first.
CREATE OR REPLACE FUNCTION claim_sync(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                           p_older_than interval DEFAULT interval '15 minutes',
                           p_only uuid[] DEFAULT NULL, p_margin_seconds integer DEFAULT 600,
                           p_installations bigint[] DEFAULT NULL)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, cursor text,
               total_prs integer, processed_prs integer, page_size integer,
               since timestamptz, watermark timestamptz, installation_id bigint)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
        RAISE EXCEPTION 'lease must be a positive number of seconds' USING ERRCODE = '22023';
    END IF;
    IF p_margin_seconds IS NULL OR p_margin_seconds < 0 THEN
        RAISE EXCEPTION 'the safety margin cannot be negative' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH candidate AS (
        SELECT s.id
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
         WHERE s.status = 'completed'
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND routed_to(r.installation_id, p_installations)
           AND (s.sync_cursor IS NOT NULL
                OR sync_request_open(s.sync_requested_at, s.fresh_as_of)
                OR (p_older_than IS NOT NULL
                    AND coalesce(s.synced_at, s.completed_at) <= now() - p_older_than))
         ORDER BY s.sync_cursor IS NULL,
                  NOT sync_request_open(s.sync_requested_at, s.fresh_as_of),
                  coalesce(s.synced_at, s.completed_at), s.id
         LIMIT 1
           FOR NO KEY UPDATE OF s SKIP LOCKED
    ), claimed AS (
        UPDATE progressive_backfill_state s
           SET claim_token = nextval('backfill_claim_token_seq'),
               leased_by = p_worker_id,
               lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               last_claimed_at = now(),
               waiting_until = NULL,
               updated_at = now()
          FROM candidate c
         WHERE s.id = c.id
        RETURNING s.*
    )
    SELECT c.id, c.repository_id, r.owner, r.name, c.claim_token, c.lease_expires_at,
           c.sync_cursor, c.total_prs, c.processed_prs, c.page_size,
           coalesce(c.sync_watermark, c.started_at, c.completed_at)
             - make_interval(secs => p_margin_seconds),
           c.sync_watermark, r.installation_id
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'sync_request_open(timestamptz, timestamptz)'::regprocedure,
        'sync_request_pending(uuid)'::regprocedure,
        'claim_sync(text, integer, interval, uuid[], integer, bigint[])'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
