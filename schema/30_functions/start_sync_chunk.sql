-- Reserve the next page of a sync this worker holds: a chunk of kind 'sync', numbered by the
-- backfill's own counter, starting where the walk stands. No row: lease gone or not completed.
CREATE OR REPLACE FUNCTION public.start_sync_chunk(p_backfill_state_id uuid, p_claim_token bigint, p_worker_id text)
 RETURNS SETOF backfill_chunks
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_cursor text;
BEGIN
    SELECT s.sync_cursor INTO v_cursor
      FROM progressive_backfill_state s
     WHERE s.id = p_backfill_state_id
       AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND s.status = 'completed'
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE progressive_backfill_state s
       SET sync_walk_started_at = CASE WHEN s.sync_cursor IS NULL THEN now()
                                       ELSE coalesce(s.sync_walk_started_at, now()) END
     WHERE s.id = p_backfill_state_id;
    RETURN QUERY
        INSERT INTO backfill_chunks (backfill_state_id, chunk_number, cursor_before,
                                     claim_token, worker_id, kind)
        VALUES (p_backfill_state_id, get_next_chunk_number(p_backfill_state_id), v_cursor,
                p_claim_token, p_worker_id, 'sync')
        RETURNING *;
END
$function$;

REVOKE ALL ON FUNCTION start_sync_chunk(uuid,bigint,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION start_sync_chunk(uuid,bigint,text) TO service_role;
