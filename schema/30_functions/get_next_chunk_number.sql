-- Atomic chunk numbering: prevents duplicate chunks when several workers run at once.
--
-- The numbers come from a counter on the backfill row rather than a SEQUENCE: a sequence is
-- unique but gapped and not transactional, while users read chunk numbers as 1, 2, 3, ...
-- The UPDATE takes the row lock, so concurrent callers queue on it and each gets the next
-- number; a caller that rolls back gives its number back.
CREATE OR REPLACE FUNCTION public.get_next_chunk_number(backfill_state_id uuid)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    next_number integer;
BEGIN
    UPDATE progressive_backfill_state AS s
       SET last_chunk_number = s.last_chunk_number + 1
     WHERE s.id = get_next_chunk_number.backfill_state_id
    RETURNING s.last_chunk_number INTO next_number;
    IF next_number IS NULL THEN
        RAISE EXCEPTION 'backfill % does not exist', get_next_chunk_number.backfill_state_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN next_number;
END
$function$;

REVOKE ALL ON FUNCTION get_next_chunk_number(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION get_next_chunk_number(uuid) TO service_role;
