-- A completed (or failed) backfill starts again from its stored cursor: only PRs created
-- since are fetched; history is not re-read. It counts its failures in a row afresh.
CREATE OR REPLACE FUNCTION public.reopen_backfill(p_backfill_state_id uuid, p_total_prs integer)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH reopened AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', completed_at = NULL, last_error = NULL, error_count = 0,
               failures_in_a_row = 0, cooldown_until = NULL,
               total_prs = NULLIF(p_total_prs, 0), updated_at = now()
         WHERE id = p_backfill_state_id AND status IN ('completed', 'failed')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM reopened);
$function$;

REVOKE ALL ON FUNCTION reopen_backfill(uuid,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION reopen_backfill(uuid,integer) TO service_role;
