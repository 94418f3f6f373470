-- Claim up to p_limit completed repositories whose freshness is due (older than
-- p_older_than since the last sync or probe, or a "sync now" still open) for one probe: the
-- same lease and fencing sequence as claim_sync, one token each. Not claimed: a walk in
-- progress (sync_cursor: claim_sync resumes it), one a probe already found moved (claim_sync
-- syncs it), one resting (cooldown), one leased. Routed: with p_installations, only
-- repositories of those installations (one probe document goes out with one credential;
-- repositories not routed yet are left to claim_sync, which routes them).
CREATE OR REPLACE FUNCTION public.claim_probe(p_worker_id text, p_lease_seconds integer DEFAULT 60, p_older_than interval DEFAULT '00:15:00'::interval, p_only uuid[] DEFAULT NULL::uuid[], p_installations bigint[] DEFAULT NULL::bigint[], p_limit integer DEFAULT 100)
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, owner text, name text, claim_token bigint, lease_expires_at timestamp with time zone, installation_id bigint)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
        RAISE EXCEPTION 'lease must be a positive number of seconds' USING ERRCODE = '22023';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100 THEN
        RAISE EXCEPTION 'a probe covers 1 to 100 repositories' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH candidate AS (
        SELECT s.id
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
         WHERE s.status = 'completed'
           AND s.sync_cursor IS NULL
           AND NOT sync_request_open(s.probe_moved_at, s.fresh_as_of)
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND (p_installations IS NULL OR r.installation_id = ANY (p_installations))
           AND (sync_request_open(s.sync_requested_at, s.fresh_as_of)
                OR (p_older_than IS NOT NULL
                    AND coalesce(s.synced_at, s.completed_at) <= now() - p_older_than))
         ORDER BY NOT sync_request_open(s.sync_requested_at, s.fresh_as_of),
                  coalesce(s.synced_at, s.completed_at), s.id
         LIMIT p_limit
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
           r.installation_id
      FROM claimed c JOIN repositories r ON r.id = c.repository_id
     ORDER BY r.owner, r.name;
END
$function$;

REVOKE ALL ON FUNCTION claim_probe(text,integer,interval,uuid[],bigint[],integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION claim_probe(text,integer,interval,uuid[],bigint[],integer) TO service_role;
