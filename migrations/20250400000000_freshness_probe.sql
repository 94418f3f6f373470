-- The freshness probe: one GraphQL document asks up to ~100 completed repositories for their
-- newest PR's updatedAt and their PR totalCount (about one point by GitHub's cost rule), and
-- only the repositories that moved are synced; the others are fresh as of the probe with no
-- chunk row written (core/backfill/probe.py).
--
--   probe_count     probes that found the repository unchanged (a counter, not a row each)
--   probed_at       when the last probe of it was settled (database clock)
--   probe_moved_at  when a probe found it moved: due for a sync (claim_sync) until a walk
--                   that began after it finishes (fresh_as_of passes it), as a "sync now"

ALTER TABLE progressive_backfill_state
    ADD COLUMN probe_count integer NOT NULL DEFAULT 0 CHECK (probe_count >= 0),
    ADD COLUMN probed_at timestamptz,
    ADD COLUMN probe_moved_at timestamptz;

-- Claim up to p_limit completed repositories whose freshness is due (older than
-- p_older_than since the last sync or probe, or a "sync now" still open) for one probe: the
-- same lease and fencing sequence as claim_sync, one token each. Not claimed: a walk in
-- progress (sync_cursor: claim_sync resumes it), one a probe already found moved (claim_sync
-- syncs it), one resting (cooldown), one leased. Routed: with p_installations, only
-- repositories of those installations (one probe document goes out with one credential;
-- repositories not routed yet are left to claim_sync, which routes them).
CREATE FUNCTION claim_probe(p_worker_id text, p_lease_seconds integer DEFAULT 60,
                            p_older_than interval DEFAULT '00:15:00'::interval,
                            p_only uuid[] DEFAULT NULL, p_installations bigint[] DEFAULT NULL,
                            p_limit integer DEFAULT 100)
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               claim_token bigint, lease_expires_at timestamptz, installation_id bigint)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
$$;

REVOKE ALL ON FUNCTION claim_probe(text,integer,interval,uuid[],bigint[],integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION claim_probe(text,integer,interval,uuid[],bigint[],integer) TO service_role;

-- Settle one repository's probe, fenced by its claim token, and let the lease go. Moved:
-- GitHub's newest PR updatedAt (p_newest_updated_at; NULL: no PR) is past the watermark
-- (never synced: the backfill's start minus p_margin_seconds), or its totalCount differs
-- from the stored one, or refused PRs are due to be asked for again (the rule of
-- pull_requests_to_retry): it is due for a sync (probe_moved_at). Otherwise unchanged: fresh
-- as of the probe's claim (the answer was read after it), synced_at moves (the interval
-- counts from here), probe_count grows; no chunk row. Answers 'unchanged', 'moved', or
-- 'lost' (the lease was taken over: nothing written).
CREATE FUNCTION settle_probe(p_backfill_state_id uuid, p_claim_token bigint,
                             p_newest_updated_at timestamptz, p_total_count integer,
                             p_margin_seconds integer DEFAULT 600)
RETURNS text
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_moved boolean;
BEGIN
    IF p_margin_seconds IS NULL OR p_margin_seconds < 0 THEN
        RAISE EXCEPTION 'the safety margin cannot be negative' USING ERRCODE = '22023';
    END IF;
    SELECT nullif(p_total_count, 0) IS DISTINCT FROM s.total_prs  -- total_prs: NULL for 0
           OR (p_newest_updated_at IS NOT NULL
               AND p_newest_updated_at > coalesce(
                   s.sync_watermark,
                   coalesce(s.started_at, s.completed_at) - make_interval(secs => p_margin_seconds)))
           OR EXISTS (SELECT 1 FROM pull_request_failures f
                       WHERE f.repository_id = s.repository_id AND f.attempts <= 3
                         AND f.failed_at <= now() - make_interval(secs => 60 * 4 ^ (f.attempts - 1)))
      INTO v_moved
      FROM progressive_backfill_state s
     WHERE s.id = p_backfill_state_id AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now() AND s.status = 'completed'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'lost';
    END IF;
    UPDATE progressive_backfill_state s
       SET probe_moved_at = CASE WHEN v_moved THEN now() ELSE s.probe_moved_at END,
           fresh_as_of = CASE WHEN v_moved THEN s.fresh_as_of
                              ELSE greatest(s.fresh_as_of, s.last_claimed_at) END,
           synced_at = CASE WHEN v_moved THEN s.synced_at ELSE now() END,
           probe_count = s.probe_count + CASE WHEN v_moved THEN 0 ELSE 1 END,
           probed_at = now(),
           leased_by = NULL,
           lease_expires_at = NULL,
           updated_at = now()
     WHERE s.id = p_backfill_state_id;
    RETURN CASE WHEN v_moved THEN 'moved' ELSE 'unchanged' END;
END
$$;

REVOKE ALL ON FUNCTION settle_probe(uuid,bigint,timestamptz,integer,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION settle_probe(uuid,bigint,timestamptz,integer,integer) TO service_role;

-- A repository GitHub would not answer for in a probe (gone, forbidden): fenced, its lease
-- let go, resting p_cooldown_seconds with GitHub's words in last_error, so a round does not
-- ask for it again at once and the others are not held up. Answers whether it was settled.
CREATE FUNCTION probe_failed(p_backfill_state_id uuid, p_claim_token bigint, p_error text,
                             p_cooldown_seconds integer DEFAULT 600)
RETURNS boolean
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    UPDATE progressive_backfill_state s
       SET last_error = left(p_error, 2000),
           cooldown_until = now() + make_interval(secs => greatest(p_cooldown_seconds, 0)),
           probed_at = now(),
           leased_by = NULL,
           lease_expires_at = NULL,
           updated_at = now()
     WHERE s.id = p_backfill_state_id AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
    RETURNING true;
$$;

REVOKE ALL ON FUNCTION probe_failed(uuid,bigint,text,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION probe_failed(uuid,bigint,text,integer) TO service_role;

-- claim_sync as before, and a repository a probe found moved is due (first after unfinished
-- walks), until a walk that began after the probe finishes.
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

