-- Monitoring reads for the REST transport as one JSON value each. PostgREST cuts every
-- set-returning result at the project's "Max rows" (1,000 by default on Supabase) without an
-- error, so `backfill_progress` over RPC would silently drop backfills past the 1,000th; paging
-- would mean several snapshots and recomputing the function per page. A jsonb scalar is one
-- value: every row, one snapshot, one call. Same rows and order as the set-returning functions.

CREATE FUNCTION backfill_progress_snapshot(p_rate_window interval DEFAULT interval '15 minutes')
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.created_at, p.repository), '[]'::jsonb)
      FROM backfill_progress(p_rate_window) p;
$$;

CREATE FUNCTION backfill_workers_snapshot()
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY w.alive DESC, w.heartbeat_at DESC),
                    '[]'::jsonb)
      FROM backfill_workers() w;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'backfill_progress_snapshot(interval)'::regprocedure,
        'backfill_workers_snapshot()'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
