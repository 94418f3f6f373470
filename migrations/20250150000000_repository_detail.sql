-- Issue 19: one repository in full (the console's detail screen), retrying a failed backfill,
-- and removing a repository with everything stored for it.

-- One backfill as the detail screen shows it: its state, the host of the worker holding its
-- lease, the last PR its cursor is past, and its most recent chunks (newest first).
-- Chunks come through `to_jsonb(c)`, so a column added to backfill_chunks later (a chunk's
-- `kind`) reaches the console without changing this function; `state` carries every column
-- of the state row the same way (a sync watermark, when there is one).
CREATE FUNCTION backfill_detail(p_backfill_state_id uuid, p_chunks integer DEFAULT 20)
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'backfill_state_id', s.id,
        'repository_id', s.repository_id,
        'repository', r.owner || '/' || r.name,
        'status', s.status,
        'page_size', s.page_size,
        'error_count', s.error_count,
        'last_error', s.last_error,
        'cooldown_until', s.cooldown_until,
        'leased_by', s.leased_by,
        'lease_expires_at', s.lease_expires_at,
        'lease_host', (SELECT w.host FROM workers w WHERE w.id = s.leased_by),
        'has_cursor', s.cursor IS NOT NULL,
        -- The page that moved the cursor to where it is lists the PRs it stored; when that
        -- chunk was pruned, the highest PR number stored (pages run oldest first).
        'after_pr', CASE WHEN s.cursor IS NOT NULL THEN coalesce(
            (SELECT (SELECT max(n) FROM unnest(c.pr_numbers) AS n)
               FROM backfill_chunks c
              WHERE c.backfill_state_id = s.id AND c.status = 'completed'
                AND c.cursor_after = s.cursor
              ORDER BY c.chunk_number DESC LIMIT 1),
            (SELECT max(p.number) FROM pull_requests p WHERE p.repository_id = s.repository_id))
            END,
        'state', to_jsonb(s) - 'cursor' - 'claim_token',
        'chunks', (
            SELECT coalesce(jsonb_agg(
                       to_jsonb(c) - 'pr_numbers' - 'cursor_before' - 'cursor_after' - 'claim_token'
                       ORDER BY c.chunk_number DESC), '[]'::jsonb)
              FROM (SELECT * FROM backfill_chunks
                     WHERE backfill_state_id = s.id
                     ORDER BY chunk_number DESC
                     LIMIT greatest(p_chunks, 0)) c),
        'observed_at', now())
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE s.id = p_backfill_state_id;
$$;

-- A failed backfill goes back to pending once its cause is fixed: the cursor, the processed
-- count and everything stored stay; only the failure (error, count, cooldown) is cleared.
-- Its failed chunks stay too, as the record of what happened.
CREATE FUNCTION retry_backfill(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH retried AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', last_error = NULL, error_count = 0, cooldown_until = NULL,
               waiting_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'failed'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM retried);
$$;

-- What removing a repository deletes, counted; with p_dry_run false it is deleted too, in the
-- same transaction as the count (the cascade takes its backfill, chunks, PRs, reviews,
-- comments and refused PRs; contributors are shared between repositories and stay).
-- `removed` is false when there was no such repository.
CREATE FUNCTION remove_repository(p_repository_id uuid, p_dry_run boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
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
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'backfill_detail(uuid, integer)'::regprocedure,
        'retry_backfill(uuid)'::regprocedure,
        'remove_repository(uuid, boolean)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
