-- Delete the repository's comments GitHub confirmed gone (node ids; others' are untouched)
-- and stamp the verification. Returns how many were deleted.
CREATE OR REPLACE FUNCTION public.delete_comments(p_backfill_state_id uuid, p_github_ids text[])
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_deleted integer;
BEGIN
    -- The backfill's row first, as commit_chunk and commit_sync_chunk take it: the rows
    -- this writes then lock repository_row_counts in the same order they do (no deadlock).
    PERFORM 1 FROM progressive_backfill_state WHERE id = p_backfill_state_id
        FOR NO KEY UPDATE;
    DELETE FROM comments cm
     USING progressive_backfill_state s, pull_requests p
     WHERE s.id = p_backfill_state_id AND p.repository_id = s.repository_id
       AND cm.pull_request_id = p.id AND cm.github_id = ANY (p_github_ids);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    UPDATE progressive_backfill_state SET comments_verified_at = now()
     WHERE id = p_backfill_state_id;
    RETURN v_deleted;
END
$function$;

REVOKE ALL ON FUNCTION delete_comments(uuid,text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_comments(uuid,text[]) TO service_role;
