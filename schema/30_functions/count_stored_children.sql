-- A PR's children (reviews, comments, review_threads, review_comments): the column of the
-- counts row is the table's name; the repository is the PR's.
CREATE OR REPLACE FUNCTION public.count_stored_children()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    IF TG_TABLE_NAME NOT IN ('reviews', 'comments', 'review_threads', 'review_comments') THEN
        RAISE EXCEPTION 'count_stored_children does not count %', TG_TABLE_NAME;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format(
            'INSERT INTO repository_row_counts AS k (repository_id, %1$I)
             SELECT p.repository_id, count(*) FROM stored_rows n
               JOIN pull_requests p ON p.id = n.pull_request_id
              GROUP BY p.repository_id ORDER BY p.repository_id
             ON CONFLICT (repository_id) DO UPDATE SET %1$I = k.%1$I + EXCLUDED.%1$I',
            TG_TABLE_NAME);
    ELSE
        EXECUTE format(
            'UPDATE repository_row_counts k SET %1$I = k.%1$I - g.n
               FROM (SELECT p.repository_id, count(*) AS n FROM gone_rows o
                       JOIN pull_requests p ON p.id = o.pull_request_id
                      GROUP BY p.repository_id) g
              WHERE k.repository_id = g.repository_id',
            TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END
$function$;

REVOKE ALL ON FUNCTION count_stored_children() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION count_stored_children() TO service_role;
