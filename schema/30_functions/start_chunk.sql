-- Reserve the next chunk of a backfill this worker holds. No row: the lease is gone or the
-- backfill is no longer active (paused, completed).
CREATE OR REPLACE FUNCTION public.start_chunk(p_backfill_state_id uuid, p_claim_token bigint, p_worker_id text)
 RETURNS SETOF backfill_chunks
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_cursor text;
BEGIN
    SELECT s.cursor INTO v_cursor
      FROM progressive_backfill_state s
     WHERE s.id = p_backfill_state_id
       AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND s.status = 'active'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        INSERT INTO backfill_chunks (backfill_state_id, chunk_number, cursor_before,
                                     claim_token, worker_id)
        VALUES (p_backfill_state_id, get_next_chunk_number(p_backfill_state_id), v_cursor,
                p_claim_token, p_worker_id)
        RETURNING *;
END
$function$;

REVOKE ALL ON FUNCTION start_chunk(uuid,bigint,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION start_chunk(uuid,bigint,text) TO service_role;
