-- Settle one repository's probe, fenced by its claim token, and let the lease go. Moved:
-- GitHub's newest PR updatedAt (p_newest_updated_at; NULL: no PR) is past the watermark
-- (never synced: the backfill's start minus p_margin_seconds), or its totalCount differs
-- from the stored one, or refused PRs are due to be asked for again (the rule of
-- pull_requests_to_retry): it is due for a sync (probe_moved_at). Otherwise unchanged: fresh
-- as of the probe's claim (the answer was read after it), synced_at moves (the interval
-- counts from here), probe_count grows; no chunk row. Answers 'unchanged', 'moved', or
-- 'lost' (the lease was taken over: nothing written).
CREATE OR REPLACE FUNCTION public.settle_probe(p_backfill_state_id uuid, p_claim_token bigint, p_newest_updated_at timestamp with time zone, p_total_count integer, p_margin_seconds integer DEFAULT 600)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION settle_probe(uuid,bigint,timestamp with time zone,integer,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION settle_probe(uuid,bigint,timestamp with time zone,integer,integer) TO service_role;
