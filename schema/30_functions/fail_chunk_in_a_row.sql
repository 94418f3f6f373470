-- Fail the chunk (as fail_chunk does, fenced by its claim token) as one more failure of its
-- backfill in a row. The cooldown doubles with each failure in a row: p_cooldown_seconds
-- after the first, twice that after the second, ... at most ten minutes (0 stays 0: a
-- smaller page is tried at once). At p_max_failures_in_a_row the backfill is failed with
-- the count and the last reason, its lease released; a sync (the repository stays
-- completed) gives up instead: its lease released, resting ten minutes, counting afresh.
-- Answers whether the chunk was failed, the count, whether the bound was reached (gave_up),
-- the cooldown applied and the backfill's last_error.
CREATE OR REPLACE FUNCTION public.fail_chunk_in_a_row(p_chunk_id uuid, p_claim_token bigint, p_error text, p_cooldown_seconds integer, p_max_failures_in_a_row integer)
 RETURNS TABLE(failed boolean, in_a_row integer, gave_up boolean, cooldown_seconds integer, reason text)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_state_id uuid;
    v_kind text;
    v_count integer;
    v_error text := left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000);
BEGIN
    IF p_max_failures_in_a_row IS NULL OR p_max_failures_in_a_row < 1 THEN
        RAISE EXCEPTION 'the bound on failures in a row must be at least 1' USING ERRCODE = '22023';
    END IF;
    failed := false; in_a_row := NULL; gave_up := false; cooldown_seconds := 0; reason := NULL;
    SELECT c.backfill_state_id, c.kind INTO v_state_id, v_kind
      FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND OR NOT fail_chunk(p_chunk_id, p_claim_token, v_error, 0) THEN
        RETURN NEXT;  -- no such chunk, or not this claim's to fail (recovered, taken over)
        RETURN;
    END IF;
    failed := true;
    -- fail_chunk locked the backfill row; its update is fenced by the claim like this one.
    UPDATE progressive_backfill_state s
       SET failures_in_a_row = s.failures_in_a_row + 1
     WHERE s.id = v_state_id AND s.claim_token = p_claim_token
    RETURNING s.failures_in_a_row INTO v_count;
    IF NOT FOUND THEN
        RETURN NEXT;  -- the backfill was claimed again since: only the chunk is failed
        RETURN;
    END IF;
    in_a_row := v_count;
    IF v_count < p_max_failures_in_a_row THEN
        cooldown_seconds := least(600, greatest(p_cooldown_seconds, 0)
                                       * 2 ^ least(v_count - 1, 20))::integer;
        reason := v_error;
        UPDATE progressive_backfill_state s
           SET cooldown_until = CASE WHEN cooldown_seconds > 0
                                     THEN now() + make_interval(secs => cooldown_seconds) END
         WHERE s.id = v_state_id;
        RETURN NEXT;
        RETURN;
    END IF;
    gave_up := true;
    reason := left(format('%s %s failed in a row; last: %s', v_count,
                          CASE WHEN v_kind = 'sync' THEN 'sync pages' ELSE 'chunks' END,
                          v_error), 2000);
    cooldown_seconds := CASE WHEN v_kind = 'sync' THEN 600 ELSE 0 END;
    UPDATE progressive_backfill_state s
       SET status = CASE WHEN v_kind = 'sync' THEN s.status ELSE 'failed' END,
           completed_at = CASE WHEN v_kind = 'sync' THEN s.completed_at END,
           failures_in_a_row = CASE WHEN v_kind = 'sync' THEN 0 ELSE s.failures_in_a_row END,
           last_error = reason,
           cooldown_until = CASE WHEN v_kind = 'sync'
                                 THEN now() + make_interval(secs => 600) END,
           leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id;
    RETURN NEXT;
END
$function$;

REVOKE ALL ON FUNCTION fail_chunk_in_a_row(uuid,bigint,text,integer,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION fail_chunk_in_a_row(uuid,bigint,text,integer,integer) TO service_role;
