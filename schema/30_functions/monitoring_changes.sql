-- The console's poll receives what changed, not everything: `monitoring_changes` answers
-- with the progress and freshness rows the caller does not already hold, and the keys of
-- those it holds that are gone. With nothing changed the answer is a few hundred bytes
-- instead of ~1 KB per repository every refresh (through PostgREST on Supabase, egress).
--
-- Each row is keyed by a digest of its content (the first 16 hex digits of its md5). What
-- moves with the clock alone is left out of the rows and the digests, and sent once:
-- `observed_at` (now()); a freshness row's lag_seconds is observed_at - fresh_as_of, which
-- the caller computes exactly as sync_freshness_snapshot does (whole seconds, at least 0).
-- The rows are those of backfill_progress_snapshot and sync_freshness_snapshot, so the two
-- reads stay one definition.
--
-- Returns {observed_at, progress: [row + {h}], progress_gone: [h], freshness: [row + {h}],
--          freshness_gone: [h]}; p_known_* NULL or empty: every row.
CREATE OR REPLACE FUNCTION public.monitoring_changes(p_rate_window interval DEFAULT '00:15:00'::interval, p_known_progress text[] DEFAULT NULL::text[], p_known_freshness text[] DEFAULT NULL::text[])
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET jit TO 'off'
AS $function$
    WITH progress_h AS MATERIALIZED (
        SELECT r.value - 'observed_at' AS row,
               left(md5((r.value - 'observed_at')::text), 16) AS h
          FROM jsonb_array_elements(backfill_progress_snapshot(p_rate_window)) r
    ), freshness_h AS MATERIALIZED (
        SELECT r.value - 'observed_at' - 'lag_seconds' AS row,
               left(md5((r.value - 'observed_at' - 'lag_seconds')::text), 16) AS h
          FROM jsonb_array_elements(sync_freshness_snapshot()) r
    ), known_p AS MATERIALIZED (
        SELECT DISTINCT k AS h FROM unnest(p_known_progress) k
    ), known_f AS MATERIALIZED (
        SELECT DISTINCT k AS h FROM unnest(p_known_freshness) k
    )
    SELECT jsonb_build_object(
        'observed_at', now(),
        'progress', (SELECT coalesce(jsonb_agg(p.row || jsonb_build_object('h', p.h)),
                                     '[]'::jsonb)
                       FROM progress_h p LEFT JOIN known_p k ON k.h = p.h
                      WHERE k.h IS NULL),
        'progress_gone', (SELECT coalesce(jsonb_agg(k.h), '[]'::jsonb)
                            FROM known_p k LEFT JOIN progress_h p ON p.h = k.h
                           WHERE p.h IS NULL),
        'freshness', (SELECT coalesce(jsonb_agg(f.row || jsonb_build_object('h', f.h)),
                                      '[]'::jsonb)
                        FROM freshness_h f LEFT JOIN known_f k ON k.h = f.h
                       WHERE k.h IS NULL),
        'freshness_gone', (SELECT coalesce(jsonb_agg(k.h), '[]'::jsonb)
                             FROM known_f k LEFT JOIN freshness_h f ON f.h = k.h
                            WHERE f.h IS NULL));
$function$;

REVOKE ALL ON FUNCTION monitoring_changes(interval,text[],text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION monitoring_changes(interval,text[],text[]) TO service_role;
