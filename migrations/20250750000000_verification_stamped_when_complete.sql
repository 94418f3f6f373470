-- A verification confirms at most a bounded number of deletion candidates per run (one REST
-- request each); when more were found, the rest wait for the next run. Stamping the listing's
-- verification then would put that next run a whole VERIFY_EVERY (24 hours) away, so a mass
-- deletion would reach the database at the cap's pace a day, past the delay the README states.
-- delete_comments now stamps only a complete verification (p_complete, true by default: every
-- candidate was confirmed); an incomplete one deletes what it confirmed and clears the stamp
-- (NULL: due, as never verified; an earlier complete one's stamp would keep it a day away), so
-- a worker's next pass goes on with the rest.
DROP FUNCTION delete_comments(text, uuid, text[]);

-- Delete the repository's comments of p_kind GitHub confirmed gone (node ids; others' are
-- untouched) and stamp that kind's verification: now() when p_complete (every candidate of the
-- listing was confirmed), else NULL (due again at once). Returns how many were deleted; raises
-- 22023 for an unknown kind.
CREATE FUNCTION delete_comments(p_kind text, p_backfill_state_id uuid, p_github_ids text[],
                                p_complete boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_repository_id uuid;
    v_deleted integer;
BEGIN
    PERFORM comment_kind(p_kind);
    -- The backfill's row first, as commit_chunk and commit_sync_chunk take it: the rows
    -- this writes then lock repository_row_counts in the same order they do (no deadlock).
    SELECT repository_id INTO v_repository_id
      FROM progressive_backfill_state WHERE id = p_backfill_state_id
       FOR NO KEY UPDATE;
    IF p_kind = 'comments' THEN
        DELETE FROM comments cm USING pull_requests p
         WHERE p.repository_id = v_repository_id AND cm.pull_request_id = p.id
           AND cm.github_id = ANY (p_github_ids);
    ELSE
        DELETE FROM review_comments rc USING pull_requests p
         WHERE p.repository_id = v_repository_id AND rc.pull_request_id = p.id
           AND rc.github_id = ANY (p_github_ids);
    END IF;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    UPDATE progressive_backfill_state s
       SET comments_verified_at =
               CASE p_kind WHEN 'comments' THEN CASE WHEN p_complete THEN now() END
                           ELSE s.comments_verified_at END,
           review_comments_verified_at =
               CASE p_kind WHEN 'review_comments' THEN CASE WHEN p_complete THEN now() END
                           ELSE s.review_comments_verified_at END
     WHERE s.id = p_backfill_state_id;
    RETURN v_deleted;
END
$$;

REVOKE ALL ON FUNCTION delete_comments(text, uuid, text[], boolean)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_comments(text, uuid, text[], boolean) TO service_role;
