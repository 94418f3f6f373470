-- progressed_at follows processed_prs up (the note_progress trigger on
-- progressive_backfill_state).
CREATE OR REPLACE FUNCTION public.note_progress()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    IF NEW.processed_prs > OLD.processed_prs THEN
        NEW.progressed_at := now();
    END IF;
    RETURN NEW;
END
$function$;

REVOKE ALL ON FUNCTION note_progress() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION note_progress() TO service_role;
