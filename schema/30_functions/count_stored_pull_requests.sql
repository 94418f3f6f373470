-- repository_row_counts follows the PRs (40_triggers/pull_requests.sql): added and
-- subtracted per repository, once per statement.
CREATE OR REPLACE FUNCTION public.count_stored_pull_requests()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO repository_row_counts AS k (repository_id, pull_requests)
        SELECT n.repository_id, count(*) FROM stored_rows n
         GROUP BY n.repository_id ORDER BY n.repository_id
        ON CONFLICT (repository_id) DO UPDATE
           SET pull_requests = k.pull_requests + EXCLUDED.pull_requests;
    ELSE
        UPDATE repository_row_counts k
           SET pull_requests = k.pull_requests - g.n
          FROM (SELECT o.repository_id, count(*) AS n FROM gone_rows o
                 GROUP BY o.repository_id) g
         WHERE k.repository_id = g.repository_id;
    END IF;
    RETURN NULL;
END
$function$;

REVOKE ALL ON FUNCTION count_stored_pull_requests() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION count_stored_pull_requests() TO service_role;
