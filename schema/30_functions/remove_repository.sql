-- What removing a repository deletes, counted; with p_dry_run false it is deleted too, in the
-- same transaction as the count (the cascade takes its backfill, chunks, PRs, reviews,
-- comments and refused PRs; contributors are shared between repositories and stay).
-- `removed` is false when there was no such repository.
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
        'pull_requests', (SELECT count(*) FROM pull_requests p
                           WHERE p.repository_id = p_repository_id),
        'reviews', (SELECT count(*) FROM reviews v
                      JOIN pull_requests p ON p.id = v.pull_request_id
                     WHERE p.repository_id = p_repository_id),
        'comments', (SELECT count(*) FROM comments m
                       JOIN pull_requests p ON p.id = m.pull_request_id
                      WHERE p.repository_id = p_repository_id),
        'failures', (SELECT count(*) FROM pull_request_failures f
                      WHERE f.repository_id = p_repository_id))
      INTO v_counts;
    IF NOT p_dry_run THEN
        DELETE FROM repositories WHERE id = p_repository_id;
    END IF;
    RETURN v_counts || jsonb_build_object('removed', NOT p_dry_run);
END
$function$;

REVOKE ALL ON FUNCTION remove_repository(uuid,boolean) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION remove_repository(uuid,boolean) TO service_role;
