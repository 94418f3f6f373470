-- A repository no installation can see: its backfill fails with `p_reason` (what to do about
-- it: install the App on the owner) unless a worker holds it under a live lease right now (that
-- worker's next query fails on its own). Returns whether it was failed. `retry` or `add`
-- reopens it once the App can see the repository.
CREATE OR REPLACE FUNCTION public.fail_unreachable_backfill(p_backfill_state_id uuid, p_reason text)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH failed AS (
        UPDATE progressive_backfill_state
           SET status = 'failed',
               last_error = left(coalesce(NULLIF(p_reason, ''), 'no credential can see it'), 2000),
               leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
               completed_at = NULL, updated_at = now()
         WHERE id = p_backfill_state_id
           AND status <> 'completed'
           AND NOT coalesce(lease_expires_at > now(), false)
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM failed);
$function$;

REVOKE ALL ON FUNCTION fail_unreachable_backfill(uuid,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION fail_unreachable_backfill(uuid,text) TO service_role;
