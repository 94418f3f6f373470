-- backfill_workers as one value: PostgREST cuts set-returning results at its "Max rows"
-- without an error (see backfill_progress_snapshot). Only the workers a user watches: alive,
-- or heard from in the last ten minutes (one that just stopped is shown stopped); the
-- columns and liveness rule of backfill_workers(), filtered by the heartbeat index.
CREATE OR REPLACE FUNCTION public.backfill_workers_snapshot()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
    SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.alive DESC, w.heartbeat_at DESC),
                    '[]'::jsonb)
      FROM (SELECT w.id, w.host, w.pid, w.status, w.backfill_state_id,
                   r.owner || '/' || r.name AS repository, w.detail, w.started_at,
                   w.heartbeat_at, w.stopped_at,
                   (w.status <> 'stopped' AND w.heartbeat_at > now() - interval '30 seconds')
                       AS alive
              FROM workers w
              LEFT JOIN progressive_backfill_state s ON s.id = w.backfill_state_id
              LEFT JOIN repositories r ON r.id = s.repository_id
             WHERE w.heartbeat_at > now() - interval '10 minutes') w;
$function$;

REVOKE ALL ON FUNCTION backfill_workers_snapshot() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_workers_snapshot() TO service_role;
