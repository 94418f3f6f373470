-- A failed backfill goes back to pending once its cause is fixed: the cursor, the processed
-- count and everything stored stay; only the failure (error, count, failures in a row,
-- cooldown) is cleared. Its failed chunks stay too, as the record of what happened.
--
-- The repository is routed again: its installation is forgotten (NULL), so the worker that
-- claims it asks GitHub which installation sees it now. A backfill failed because no
-- installation could see it, or whose App was reinstalled under a new installation id, is
-- retried once the App is fixed; keeping the old id would leave it queued for an
-- installation no worker has.
CREATE OR REPLACE FUNCTION public.retry_backfill(p_backfill_state_id uuid)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH retried AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', last_error = NULL, error_count = 0, failures_in_a_row = 0,
               cooldown_until = NULL, waiting_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'failed'
        RETURNING repository_id
    ), rerouted AS (
        UPDATE repositories r
           SET installation_id = NULL, updated_at = now()
          FROM retried
         WHERE r.id = retried.repository_id AND r.installation_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM retried);
$function$;

REVOKE ALL ON FUNCTION retry_backfill(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION retry_backfill(uuid) TO service_role;
