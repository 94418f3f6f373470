-- Claim one completed repository whose sync is due: its last sync (or, never synced, its
-- completion) is older than p_older_than, a sync was requested and is still open
-- (sync_request_open), a freshness probe found it moved (probe_moved_at, until a walk that
-- began after it finishes), or a walk is unfinished; unfinished walks, then moved, then open
-- requests first.
-- Same lease, same fencing sequence as claim_backfill; the status stays 'completed'; routed
-- like claim_backfill. `since` in the answer: where this walk stops (watermark, or the
-- backfill's start when never synced, minus p_margin_seconds).
CREATE OR REPLACE FUNCTION public.claim_sync(p_worker_id text, p_lease_seconds integer DEFAULT 60, p_older_than interval DEFAULT '00:15:00'::interval, p_only uuid[] DEFAULT NULL::uuid[], p_margin_seconds integer DEFAULT 600, p_installations bigint[] DEFAULT NULL::bigint[])
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, owner text, name text, claim_token bigint, lease_expires_at timestamp with time zone, cursor text, total_prs integer, processed_prs integer, page_size integer, since timestamp with time zone, watermark timestamp with time zone, installation_id bigint)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
                OR sync_request_open(s.probe_moved_at, s.fresh_as_of)
                OR sync_request_open(s.sync_requested_at, s.fresh_as_of)
                OR (p_older_than IS NOT NULL
                    AND coalesce(s.synced_at, s.completed_at) <= now() - p_older_than))
         ORDER BY s.sync_cursor IS NULL,
                  NOT sync_request_open(s.probe_moved_at, s.fresh_as_of),
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
$function$;

REVOKE ALL ON FUNCTION claim_sync(text,integer,interval,uuid[],integer,bigint[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION claim_sync(text,integer,interval,uuid[],integer,bigint[]) TO service_role;
