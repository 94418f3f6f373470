-- Freshness per repository, for `stats`, `stats --json` and the console, as one jsonb value
-- (PostgREST cuts row sets silently). fresh_as_of: GitHub's data is in the database as of
-- then (the start of the last finished sync; never synced: the backfill's start). lag_seconds:
-- now() minus that. Not completed: both NULL (the backfill itself is the news). `syncing`:
-- a sync cursor is held, or a sync chunk is processing (one join against the open chunks).
CREATE OR REPLACE FUNCTION public.sync_freshness_snapshot()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'backfill_state_id', s.id,
               'repository', r.owner || '/' || r.name,
               'status', s.status,
               'watermark', s.sync_watermark,
               'synced_at', s.synced_at,
               'fresh_as_of', CASE WHEN s.status = 'completed'
                                   THEN coalesce(s.fresh_as_of, s.started_at, s.completed_at)
                              END,
               'lag_seconds', CASE WHEN s.status = 'completed'
                                   THEN greatest(0, floor(extract(epoch FROM now() - coalesce(
                                        s.fresh_as_of, s.started_at, s.completed_at))))::bigint
                              END,
               'syncing', s.sync_cursor IS NOT NULL OR o.backfill_state_id IS NOT NULL,
               'sync_requested_at', s.sync_requested_at,
               'syncs', s.sync_count,
               'observed_at', now())
             ORDER BY s.created_at, r.owner, r.name), '[]'::jsonb)
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
      LEFT JOIN (SELECT DISTINCT c.backfill_state_id
                   FROM backfill_chunks c
                  WHERE c.status = 'processing' AND c.kind = 'sync') o
        ON o.backfill_state_id = s.id;
$function$;

REVOKE ALL ON FUNCTION sync_freshness_snapshot() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION sync_freshness_snapshot() TO service_role;
