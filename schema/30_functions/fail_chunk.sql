-- A chunk that could not be fetched or stored. The cursor did not move, so the page is
-- retried; the backfill cools down (p_cooldown_seconds) instead of pausing forever.
CREATE OR REPLACE FUNCTION public.fail_chunk(p_chunk_id uuid, p_claim_token bigint, p_error text, p_cooldown_seconds integer DEFAULT 0)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_state_id uuid;
BEGIN
    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM progressive_backfill_state s WHERE s.id = v_state_id FOR NO KEY UPDATE;
    UPDATE backfill_chunks
       SET status = 'failed', failed_at = now(),
           error = left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000)
     WHERE id = p_chunk_id AND claim_token = p_claim_token AND status = 'processing';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE progressive_backfill_state s
       SET error_count = s.error_count + 1,
           last_error = left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000),
           cooldown_until = CASE WHEN p_cooldown_seconds > 0
                                 THEN now() + make_interval(secs => p_cooldown_seconds) END,
           updated_at = now()
     WHERE s.id = v_state_id AND s.claim_token = p_claim_token;
    RETURN true;
END
$function$;

REVOKE ALL ON FUNCTION fail_chunk(uuid,bigint,text,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION fail_chunk(uuid,bigint,text,integer) TO service_role;
