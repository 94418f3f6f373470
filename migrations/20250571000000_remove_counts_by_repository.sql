-- `remove` counts what it deletes at a cost that follows the repository, not the database.
-- The counts of reviews and comments were joins of the repository's PRs with the whole
-- reviews and comments tables: for a large repository the planner may hash-join them, reading
-- every review and comment of every repository (3 s for a 66k-PR repository in a trial, and
-- growing with the database). Now one pass over the repository's PRs (its (repository_id,
-- number) index) counts each PR's reviews and comments by their pull_request_id indexes: a
-- LATERAL aggregate is evaluated per PR, so the plan cannot turn into a scan of the children
-- tables, and the PRs are read once instead of three times.
CREATE OR REPLACE FUNCTION remove_repository(p_repository_id uuid, p_dry_run boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_counts jsonb;
    v_name text;
BEGIN
    SELECT r.owner || '/' || r.name INTO v_name
      FROM repositories r WHERE r.id = p_repository_id
       FOR UPDATE;
    IF v_name IS NULL THEN
        RETURN jsonb_build_object('repository', NULL, 'removed', false);
    END IF;
    SELECT jsonb_build_object(
        'repository_id', p_repository_id,
        'repository', v_name,
        'backfills', (SELECT count(*) FROM progressive_backfill_state s
                       WHERE s.repository_id = p_repository_id),
        'chunks', (SELECT count(*) FROM backfill_chunks c
                     JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
                    WHERE s.repository_id = p_repository_id),
        'pull_requests', d.pull_requests,
        'reviews', d.reviews,
        'comments', d.comments,
        'failures', (SELECT count(*) FROM pull_request_failures f
                      WHERE f.repository_id = p_repository_id))
      INTO v_counts
      FROM (SELECT count(*) AS pull_requests, coalesce(sum(v.n), 0) AS reviews,
                   coalesce(sum(m.n), 0) AS comments
              FROM pull_requests p
             CROSS JOIN LATERAL (SELECT count(*) AS n FROM reviews v
                                  WHERE v.pull_request_id = p.id) v
             CROSS JOIN LATERAL (SELECT count(*) AS n FROM comments m
                                  WHERE m.pull_request_id = p.id) m
             WHERE p.repository_id = p_repository_id) d;
    IF NOT p_dry_run THEN
        DELETE FROM repositories WHERE id = p_repository_id;
    END IF;
    RETURN v_counts || jsonb_build_object('removed', NOT p_dry_run);
END
$$;
