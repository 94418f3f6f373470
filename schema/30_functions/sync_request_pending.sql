-- Whether the repository of this backfill has a "sync now" not yet honoured (the worker asks
-- after finishing a walk: finished but still open means walk again before saying "synced").
CREATE OR REPLACE FUNCTION public.sync_request_pending(p_backfill_state_id uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT coalesce((SELECT sync_request_open(s.sync_requested_at, s.fresh_as_of)
                       FROM progressive_backfill_state s
                      WHERE s.id = p_backfill_state_id), false);
$function$;

REVOKE ALL ON FUNCTION sync_request_pending(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION sync_request_pending(uuid) TO service_role;
