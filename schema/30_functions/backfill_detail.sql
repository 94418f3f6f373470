-- One backfill as the detail screen shows it: its state, the host of the worker holding its
-- lease, the last PR its cursor is past, and its most recent chunks (newest first).
-- Chunks come through `to_jsonb(c)`, so a column added to backfill_chunks later (a chunk's
-- `kind`) reaches the console without changing this function; `state` carries every column
-- of the state row the same way (a sync watermark, when there is one).
CREATE OR REPLACE FUNCTION public.backfill_detail(p_backfill_state_id uuid, p_chunks integer DEFAULT 20)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION backfill_detail(uuid,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_detail(uuid,integer) TO service_role;
