-- A chunk inserted failed (+1), or one whose status moves into or out of 'failed' (+1/-1).
CREATE OR REPLACE FUNCTION public.count_failed_chunk()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_delta integer := (NEW.status = 'failed')::integer
                       - (TG_OP = 'UPDATE' AND OLD.status = 'failed')::integer;
BEGIN
    INSERT INTO chunk_failure_counts AS f (backfill_state_id, failed)
    VALUES (NEW.backfill_state_id, v_delta)
    ON CONFLICT (backfill_state_id) DO UPDATE SET failed = f.failed + EXCLUDED.failed;
    RETURN NULL;
END
$function$;

REVOKE ALL ON FUNCTION count_failed_chunk() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION count_failed_chunk() TO service_role;
