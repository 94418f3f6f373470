-- Deleted failed chunks (the cleanup's batches, a repository removed), one grouped update a
-- statement; rows locked in one order so two deleting statements never deadlock.
CREATE OR REPLACE FUNCTION public.uncount_failed_chunks()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION uncount_failed_chunks() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION uncount_failed_chunks() TO service_role;
