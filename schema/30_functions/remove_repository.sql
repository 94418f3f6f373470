-- What removing a repository deletes, counted; with p_dry_run false it is deleted too, in the
-- same transaction as the count (the cascade takes its backfill, chunks, PRs, reviews,
-- comments and refused PRs; contributors are shared between repositories and stay).
-- `removed` is false when there was no such repository. Reviews and comments are counted PR
-- by PR through their pull_request_id indexes (a LATERAL aggregate per PR), so the count
-- costs what the repository holds, never a scan of every repository's children.
CREATE OR REPLACE FUNCTION public.remove_repository(p_repository_id uuid, p_dry_run boolean DEFAULT true)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION remove_repository(uuid,boolean) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION remove_repository(uuid,boolean) TO service_role;
