-- What the Supabase transport needs beyond the SQL API: the workers list as a function (the
-- console's one read that joins tables), the migration history closed to the API's public
-- roles, and PostgREST told to reload its schema cache.

-- Workers with the repository each is on and whether it is alive (heartbeat in the last 30 s
-- on the database clock), newest first; the psycopg transport's `workers` query, callable by RPC.
CREATE FUNCTION backfill_workers()
RETURNS TABLE (id text, host text, pid integer, status text, backfill_state_id uuid,
               repository text, detail text, started_at timestamptz, heartbeat_at timestamptz,
               stopped_at timestamptz, alive boolean)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT w.id, w.host, w.pid, w.status, w.backfill_state_id,
           r.owner || '/' || r.name, w.detail, w.started_at, w.heartbeat_at, w.stopped_at,
           (w.status <> 'stopped' AND w.heartbeat_at > now() - interval '30 seconds')
      FROM workers w
      LEFT JOIN progressive_backfill_state s ON s.id = w.backfill_state_id
      LEFT JOIN repositories r ON r.id = s.repository_id
     ORDER BY 11 DESC, w.heartbeat_at DESC;
$$;

REVOKE ALL ON FUNCTION backfill_workers() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_workers() TO service_role;

-- `backfill-console migrate` records applied files in backfill_schema_migrations (created
-- before the first migration, so outside the REVOKEs of 20250103). On Supabase the default
-- privileges give anon ALL on it; RLS already hides its rows, the grants go too. Absent when
-- the migrations were pushed with `supabase db push`.
DO $$
BEGIN
    IF to_regclass('public.backfill_schema_migrations') IS NOT NULL THEN
        REVOKE ALL ON TABLE backfill_schema_migrations FROM PUBLIC, anon, authenticated;
        GRANT ALL ON TABLE backfill_schema_migrations TO service_role;
    END IF;
END
$$;

-- PostgREST caches the schema; a running one picks up new functions when told (no-op without
-- a listener, e.g. on vanilla Postgres).
NOTIFY pgrst, 'reload schema';
