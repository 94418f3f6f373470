-- Workers with the repository each is on and whether it is alive (heartbeat in the last 30 s
-- on the database clock), newest first; the psycopg transport's `workers` query, callable by RPC.
CREATE OR REPLACE FUNCTION public.backfill_workers()
 RETURNS TABLE(id text, host text, pid integer, status text, backfill_state_id uuid, repository text, detail text, started_at timestamp with time zone, heartbeat_at timestamp with time zone, stopped_at timestamp with time zone, alive boolean)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT w.id, w.host, w.pid, w.status, w.backfill_state_id,
           r.owner || '/' || r.name, w.detail, w.started_at, w.heartbeat_at, w.stopped_at,
           (w.status <> 'stopped' AND w.heartbeat_at > now() - interval '30 seconds')
      FROM workers w
      LEFT JOIN progressive_backfill_state s ON s.id = w.backfill_state_id
      LEFT JOIN repositories r ON r.id = s.repository_id
     ORDER BY 11 DESC, w.heartbeat_at DESC;
$function$;

REVOKE ALL ON FUNCTION backfill_workers() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_workers() TO service_role;
