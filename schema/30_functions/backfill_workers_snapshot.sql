-- backfill_workers as one value: PostgREST cuts set-returning results at its "Max rows"
-- without an error (see backfill_progress_snapshot).
CREATE OR REPLACE FUNCTION public.backfill_workers_snapshot()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.alive DESC, w.heartbeat_at DESC),
                    '[]'::jsonb)
      FROM backfill_workers() w;
$function$;

REVOKE ALL ON FUNCTION backfill_workers_snapshot() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_workers_snapshot() TO service_role;
