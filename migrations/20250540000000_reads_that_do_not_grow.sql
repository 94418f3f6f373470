-- Every poll's reads stay flat as the history grows (issue 29, "reads that do not grow with
-- history"), measured at 1,000 repositories and six months of 15-minute sync rounds:
--
--   * Failed chunks are never "open work": they stay until the cleanup's retention, 1% of
--     every round, 172,000 rows after six months. The poll counted them per backfill on
--     every refresh (backfill_chunks_open_idx holds every chunk that is not completed), and
--     looked for a processing sync chunk through the same 172,000 entries. Now:
--       - chunk_failure_counts holds each backfill's failed chunks as a number, kept by
--         triggers on backfill_chunks whichever function fails, un-fails or deletes a chunk
--         (fail_chunk, fail_chunk_in_a_row, recovery, the cleanup, remove): the poll reads
--         1,000 rows, not the failures' history. A completion (every commit_chunk) does not
--         fire them: the triggers' WHEN clauses are false for it.
--       - backfill_chunks_processing_idx holds the chunks being worked on, a set as small
--         as the workers running, for the processing counts and the "syncing" flag.
--   * monitoring_changes compared every row's digest with every known digest (`= ANY` of
--     the array per row, NOT EXISTS over a CTE per known digest): 1,000 x 1,000 text
--     comparisons twice a poll. Now hash anti-joins, linear in the rows.

CREATE TABLE chunk_failure_counts (
    backfill_state_id  uuid PRIMARY KEY
                       REFERENCES progressive_backfill_state (id) ON DELETE CASCADE,
    failed             integer NOT NULL DEFAULT 0
);
ALTER TABLE chunk_failure_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON chunk_failure_counts FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE chunk_failure_counts FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE chunk_failure_counts TO service_role;

INSERT INTO chunk_failure_counts (backfill_state_id, failed)
SELECT backfill_state_id, count(*) FROM backfill_chunks WHERE status = 'failed'
 GROUP BY backfill_state_id;

CREATE INDEX backfill_chunks_processing_idx ON backfill_chunks (backfill_state_id)
    INCLUDE (kind, started_at, claim_token) WHERE status = 'processing';

-- A chunk inserted failed (+1), or one whose status moves into or out of 'failed' (+1/-1).
CREATE FUNCTION count_failed_chunk()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_delta integer := (NEW.status = 'failed')::integer
                       - (TG_OP = 'UPDATE' AND OLD.status = 'failed')::integer;
BEGIN
    INSERT INTO chunk_failure_counts AS f (backfill_state_id, failed)
    VALUES (NEW.backfill_state_id, v_delta)
    ON CONFLICT (backfill_state_id) DO UPDATE SET failed = f.failed + EXCLUDED.failed;
    RETURN NULL;
END
$$;

-- Deleted failed chunks (the cleanup's batches, a repository removed), one grouped update a
-- statement; rows locked in one order so two deleting statements never deadlock.
CREATE FUNCTION uncount_failed_chunks()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    WITH gone AS (
        SELECT g.backfill_state_id, count(*) AS n
          FROM gone_chunks g
         WHERE g.status = 'failed'
         GROUP BY g.backfill_state_id
    ), locked AS (
        SELECT f.backfill_state_id
          FROM chunk_failure_counts f
         WHERE f.backfill_state_id IN (SELECT backfill_state_id FROM gone)
         ORDER BY f.backfill_state_id
           FOR UPDATE
    )
    UPDATE chunk_failure_counts f
       SET failed = greatest(f.failed - g.n, 0)
      FROM gone g
     WHERE f.backfill_state_id = g.backfill_state_id
       AND f.backfill_state_id IN (SELECT backfill_state_id FROM locked);
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION count_failed_chunk() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION count_failed_chunk() TO service_role;
REVOKE ALL ON FUNCTION uncount_failed_chunks() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION uncount_failed_chunks() TO service_role;

CREATE TRIGGER count_failed_chunk_inserted AFTER INSERT ON backfill_chunks
    FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION count_failed_chunk();
CREATE TRIGGER count_failed_chunk_updated AFTER UPDATE OF status ON backfill_chunks
    FOR EACH ROW WHEN ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed'))
    EXECUTE FUNCTION count_failed_chunk();
CREATE TRIGGER uncount_failed_chunks AFTER DELETE ON backfill_chunks
    REFERENCING OLD TABLE AS gone_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION uncount_failed_chunks();

-- Progress per repository with a rate over a recent window and the ETA it implies, and since
-- when its stored PRs last grew (progressed_at). Processing chunks from the processing
-- index, failed ones from chunk_failure_counts.
CREATE OR REPLACE FUNCTION backfill_progress(p_rate_window interval DEFAULT '15 minutes')
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, repository text, status text,
               processed_prs integer, total_prs integer, percent numeric,
               prs_per_minute numeric, eta_seconds numeric, last_chunk_number integer,
               chunks_processing bigint, chunks_failed bigint, leased_by text,
               lease_expires_at timestamptz, waiting_until timestamptz,
               cooldown_until timestamptz, last_error text, error_count integer,
               created_at timestamptz, updated_at timestamptz, started_at timestamptz,
               completed_at timestamptz, observed_at timestamptz, progressed_at timestamptz)
LANGUAGE plpgsql
STABLE
SET search_path = public, pg_temp
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := now();
    v_since timestamptz := now() - p_rate_window;
BEGIN
    RETURN QUERY
    WITH recent AS (
        SELECT c.backfill_state_id,
               sum(c.inserted_prs) AS prs,
               min(c.started_at) AS first_started
          FROM backfill_chunks c
         WHERE c.status = 'completed' AND c.completed_at > v_since
         GROUP BY c.backfill_state_id
    ), processing AS (
        SELECT c.backfill_state_id, count(*) AS n
          FROM backfill_chunks c
         WHERE c.status = 'processing'
         GROUP BY c.backfill_state_id
    ), rated AS (
        SELECT s.*, r.owner || '/' || r.name AS repository,
               CASE WHEN rc.prs > 0 THEN
                   round(rc.prs / greatest(extract(epoch FROM v_now - greatest(rc.first_started,
                         v_since)) / 60.0, 1.0 / 60), 2)
               END AS rate
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
          LEFT JOIN recent rc ON rc.backfill_state_id = s.id
    )
    SELECT x.id, x.repository_id, x.repository, x.status, x.processed_prs, x.total_prs,
           CASE WHEN x.total_prs > 0
                THEN round(least(x.processed_prs::numeric / x.total_prs * 100, 100), 2)
                WHEN x.status = 'completed' THEN 100::numeric END,
           coalesce(x.rate, 0),
           CASE WHEN x.status = 'completed' THEN 0::numeric
                WHEN x.rate > 0 AND x.total_prs IS NOT NULL
                THEN round(greatest(x.total_prs - x.processed_prs, 0) / x.rate * 60) END,
           x.last_chunk_number, coalesce(o.n, 0), coalesce(f.failed, 0)::bigint,
           x.leased_by, x.lease_expires_at, x.waiting_until, x.cooldown_until, x.last_error,
           x.error_count, x.created_at, x.updated_at, x.started_at, x.completed_at, v_now,
           x.progressed_at
      FROM rated x
      LEFT JOIN processing o ON o.backfill_state_id = x.id
      LEFT JOIN chunk_failure_counts f ON f.backfill_state_id = x.id
     ORDER BY x.created_at, x.repository;
END;
$$;

-- Freshness per repository, for `stats`, `stats --json` and the console, as one jsonb value
-- (PostgREST cuts row sets silently). fresh_as_of: GitHub's data is in the database as of
-- then (the start of the last finished sync; never synced: the backfill's start). lag_seconds:
-- now() minus that. Not completed: both NULL (the backfill itself is the news). `syncing`:
-- a sync cursor is held, or a sync chunk is processing (the processing index).
CREATE OR REPLACE FUNCTION sync_freshness_snapshot()
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
AS $$
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
$$;

-- The console's poll receives what changed, not everything (see 20250451000000): rows whose
-- digest the caller does not hold, and held digests that are gone, by hash anti-joins. The
-- digest is taken from each row's values (its record's text, observed_at and lag_seconds
-- left out), and a row is turned into JSON only when it is sent: with nothing changed, no
-- JSON is built (building 2,000 rows' JSON and taking it apart again was most of a poll).
-- The rows are backfill_progress_snapshot's and sync_freshness_snapshot's, field for field;
-- tests/store/test_monitoring_reads.py holds the merged answer equal to the whole reads.
-- Returns {observed_at, progress: [row + {h}], progress_gone: [h], freshness: [row + {h}],
--          freshness_gone: [h]}; p_known_* NULL or empty: every row.
CREATE OR REPLACE FUNCTION monitoring_changes(p_rate_window interval DEFAULT '15 minutes',
                                              p_known_progress text[] DEFAULT NULL,
                                              p_known_freshness text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
SET jit = off
AS $$
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
$$;

NOTIFY pgrst, 'reload schema';
