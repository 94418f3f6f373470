-- `stats` reads the rows stored per repository as numbers kept by the writes, not by counting
-- whole tables on every call (repository_data_counts read every PR, review, comment, thread
-- and review comment: ~300 ms at 1M PRs, growing with the database; database_size counted
-- every PR again for bytes per PR).
--
-- repository_row_counts holds one row per repository that has stored anything. Statement-
-- level triggers with transition tables keep it exact, whichever function writes: every
-- insert adds the rows it inserted (INSERT ... ON CONFLICT DO UPDATE puts only the rows it
-- inserted in the insert transition table), every delete subtracts the rows it deleted. The
-- children tables have pull_request_id only: their triggers find the repository through the
-- PR. A PR is deleted only with its repository (ON DELETE CASCADE), and the repository's
-- counts row goes with it, so a child deleted by that cascade (whose PR is already gone)
-- has nothing left to subtract from. No function changes a PR's repository_id or a child's
-- pull_request_id.
--
-- Per statement, not per row: one aggregate and one upsert per statement (the rows of a
-- page in one go), counts rows taken in repository order (no deadlock between two
-- statements over several repositories).
CREATE TABLE repository_row_counts (
    repository_id    uuid PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    pull_requests    bigint NOT NULL DEFAULT 0,
    reviews          bigint NOT NULL DEFAULT 0,
    comments         bigint NOT NULL DEFAULT 0,
    review_threads   bigint NOT NULL DEFAULT 0,
    review_comments  bigint NOT NULL DEFAULT 0
);

ALTER TABLE repository_row_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON repository_row_counts FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE repository_row_counts FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE repository_row_counts TO service_role;

-- PRs: added and subtracted per repository.
CREATE OR REPLACE FUNCTION count_stored_pull_requests()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
$$;

-- A PR's children (reviews, comments, review_threads, review_comments): the column of the
-- counts row is the table's name; the repository is the PR's.
CREATE OR REPLACE FUNCTION count_stored_children()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
$$;

REVOKE ALL ON FUNCTION count_stored_pull_requests() FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION count_stored_children() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON pull_requests
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_pull_requests();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON pull_requests
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_pull_requests();
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON reviews
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON reviews
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON comments
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON comments
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON review_threads
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON review_threads
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_inserted AFTER INSERT ON review_comments
    REFERENCING NEW TABLE AS stored_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();
CREATE TRIGGER count_stored_rows_deleted AFTER DELETE ON review_comments
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_stored_children();

-- What is stored already, counted once, with the writers held off (SHARE: reads go on) so
-- nothing is stored between the count and the triggers.
LOCK TABLE pull_requests, reviews, comments, review_threads, review_comments IN SHARE MODE;
INSERT INTO repository_row_counts
       (repository_id, pull_requests, reviews, comments, review_threads, review_comments)
SELECT r.id,
       (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id),
       (SELECT count(*) FROM reviews v JOIN pull_requests p ON p.id = v.pull_request_id
         WHERE p.repository_id = r.id),
       (SELECT count(*) FROM comments m JOIN pull_requests p ON p.id = m.pull_request_id
         WHERE p.repository_id = r.id),
       (SELECT count(*) FROM review_threads t JOIN pull_requests p ON p.id = t.pull_request_id
         WHERE p.repository_id = r.id),
       (SELECT count(*) FROM review_comments c JOIN pull_requests p ON p.id = c.pull_request_id
         WHERE p.repository_id = r.id)
  FROM repositories r;

-- One jsonb array (PostgREST cuts row sets at its "Max rows" silently): per repository,
-- {repository_id, pull_requests, reviews, comments, review_threads, review_comments};
-- p_repository_id NULL: every repository, else that one only. One row per repository from
-- repository_row_counts (kept by the writes' triggers), none from the stored tables.
CREATE OR REPLACE FUNCTION repository_data_counts(p_repository_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'repository_id', r.id,
               'pull_requests', coalesce(k.pull_requests, 0),
               'reviews', coalesce(k.reviews, 0),
               'comments', coalesce(k.comments, 0),
               'review_threads', coalesce(k.review_threads, 0),
               'review_comments', coalesce(k.review_comments, 0))
           ORDER BY r.id), '[]'::jsonb)
      FROM repositories r
      LEFT JOIN repository_row_counts k ON k.repository_id = r.id
     WHERE p_repository_id IS NULL OR r.id = p_repository_id;
$$;

REVOKE ALL ON FUNCTION repository_data_counts(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION repository_data_counts(uuid) TO service_role;

-- database_size's PRs are the kept counts' sum (one row per repository), not a count of
-- every PR on each call.
CREATE OR REPLACE FUNCTION public.database_size()
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET jit TO 'off'
AS $function$
    WITH sizes AS (
        SELECT pg_database_size(current_database()) AS database_bytes,
               (pg_total_relation_size('public.pull_requests')
                + pg_total_relation_size('public.reviews')
                + pg_total_relation_size('public.comments')
                + pg_total_relation_size('public.contributors')
                + pg_total_relation_size('public.review_threads')
                + pg_total_relation_size('public.review_comments')) AS pr_bytes,
               (SELECT coalesce(sum(k.pull_requests), 0)
                  FROM public.repository_row_counts k) AS prs,
               (SELECT coalesce(sum(c.inserted_prs), 0)
                  FROM public.backfill_chunks c
                 WHERE c.status = 'completed'
                   AND c.completed_at > now() - interval '24 hours') AS prs_last_day
    ), per_pr AS (
        SELECT s.*, CASE WHEN s.prs > 0 THEN round(s.pr_bytes::numeric / s.prs) END AS bytes_per_pr
          FROM sizes s
    )
    SELECT jsonb_build_object(
        'database_bytes', p.database_bytes,
        'pr_bytes', p.pr_bytes,
        'prs', p.prs,
        'bytes_per_pr', p.bytes_per_pr,
        'prs_last_day', p.prs_last_day,
        'bytes_per_day', coalesce(p.bytes_per_pr * p.prs_last_day, 0))
      FROM per_pr p;
$function$;

REVOKE ALL ON FUNCTION database_size() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION database_size() TO service_role;
