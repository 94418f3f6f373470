-- retry_backfill as in 20250150000000_repository_detail.sql, and the repository is routed again:
-- its installation is forgotten (NULL), so the worker that claims it asks GitHub which
-- installation sees it now. A backfill failed because no installation could see it, or whose
-- App was reinstalled under a new installation id, is retried once the App is fixed; keeping
-- the old id would leave it queued for an installation no worker has.
CREATE OR REPLACE FUNCTION retry_backfill(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH retried AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', last_error = NULL, error_count = 0, cooldown_until = NULL,
               waiting_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'failed'
        RETURNING repository_id
    ), rerouted AS (
        UPDATE repositories r
           SET installation_id = NULL, updated_at = now()
          FROM retried
         WHERE r.id = retried.repository_id AND r.installation_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM retried);
$$;
