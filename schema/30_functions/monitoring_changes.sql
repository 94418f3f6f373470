-- The console's poll receives what changed, not everything: `monitoring_changes` answers
-- with the progress and freshness rows the caller does not already hold, and the keys of
-- those it holds that are gone. With nothing changed the answer is a few hundred bytes
-- instead of ~1 KB per repository every refresh (through PostgREST on Supabase, egress).
--
-- Each row is keyed by a digest of its values (the first 16 hex digits of the md5 of its
-- record's text), compared by hash anti-joins; a row is turned into JSON only when it is
-- sent, so a poll with nothing changed builds no JSON. What moves with the clock alone is
-- left out of the rows and the digests, and sent once: `observed_at` (now()); a freshness
-- row's lag_seconds is observed_at - fresh_as_of, which the caller computes exactly as
-- sync_freshness_snapshot does (whole seconds, at least 0). The rows are those of
-- backfill_progress_snapshot and sync_freshness_snapshot, field for field
-- (tests/store/test_monitoring_reads.py holds the merged answer equal to the whole reads).
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
    WITH progress AS MATERIALIZED (
        SELECT p, coalesce(f.refused, 0) AS refused,
               left(md5(ROW(p.backfill_state_id, p.repository_id, p.repository, p.status,
                            p.processed_prs, p.total_prs, p.percent, p.prs_per_minute,
                            p.eta_seconds, p.last_chunk_number, p.chunks_processing,
                            p.chunks_failed, p.leased_by, p.lease_expires_at,
                            p.waiting_until, p.cooldown_until, p.last_error, p.error_count,
                            p.created_at, p.updated_at, p.started_at, p.completed_at,
                            p.progressed_at, coalesce(f.refused, 0))::text), 16) AS h
          FROM backfill_progress(p_rate_window) p
          LEFT JOIN (SELECT repository_id, count(*) AS refused
                       FROM pull_request_failures GROUP BY repository_id) f
            ON f.repository_id = p.repository_id
    ), freshness AS MATERIALIZED (
        SELECT s.id AS backfill_state_id, r.owner || '/' || r.name AS repository, s.status,
               s.sync_watermark AS watermark, s.synced_at,
               CASE WHEN s.status = 'completed'
                    THEN coalesce(s.fresh_as_of, s.started_at, s.completed_at) END
                   AS fresh_as_of,
               s.sync_cursor IS NOT NULL OR o.backfill_state_id IS NOT NULL AS syncing,
               s.sync_requested_at, s.sync_count AS syncs
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
          LEFT JOIN (SELECT DISTINCT c.backfill_state_id
                       FROM backfill_chunks c
                      WHERE c.status = 'processing' AND c.kind = 'sync') o
            ON o.backfill_state_id = s.id
    ), freshness_h AS MATERIALIZED (
        SELECT x, left(md5(x::text), 16) AS h FROM freshness x
    ), known_p AS MATERIALIZED (
        SELECT DISTINCT k AS h FROM unnest(p_known_progress) k
    ), known_f AS MATERIALIZED (
        SELECT DISTINCT k AS h FROM unnest(p_known_freshness) k
    )
    SELECT jsonb_build_object(
        'observed_at', now(),
        'progress', (SELECT coalesce(jsonb_agg(to_jsonb(p.p) - 'observed_at'
                                               || jsonb_build_object('refused_prs', p.refused,
                                                                     'h', p.h)), '[]'::jsonb)
                       FROM progress p LEFT JOIN known_p k ON k.h = p.h
                      WHERE k.h IS NULL),
        'progress_gone', (SELECT coalesce(jsonb_agg(k.h), '[]'::jsonb)
                            FROM known_p k LEFT JOIN progress p ON p.h = k.h
                           WHERE p.h IS NULL),
        'freshness', (SELECT coalesce(jsonb_agg(to_jsonb(f.x) || jsonb_build_object('h', f.h)),
                                      '[]'::jsonb)
                        FROM freshness_h f LEFT JOIN known_f k ON k.h = f.h
                       WHERE k.h IS NULL),
        'freshness_gone', (SELECT coalesce(jsonb_agg(k.h), '[]'::jsonb)
                             FROM known_f k LEFT JOIN freshness_h f ON f.h = k.h
                            WHERE f.h IS NULL));
$function$;

REVOKE ALL ON FUNCTION monitoring_changes(interval,text[],text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION monitoring_changes(interval,text[],text[]) TO service_role;
