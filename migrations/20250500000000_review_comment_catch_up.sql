-- Edits and deletions of inline review comments GitHub does not signal on the pull request,
-- caught like the conversation comments' (20250350000000): the same catch-up and verification
-- (core.backfill.comment_catch_up) over a second REST listing,
-- `GET /repos/{o}/{r}/pulls/comments` (docs.github.com/rest/pulls/comments). Each listing has
-- its own watermark and verification stamp, so one failing never holds the other back:
--
--   review_comments_caught_up_to  GitHub's updated_at of the newest review comment a
--                                 catch-up applied (NULL: none yet)
--   review_comments_verified_at   when (database clock) their last verification finished

ALTER TABLE progressive_backfill_state
    ADD COLUMN review_comments_caught_up_to timestamptz,
    ADD COLUMN review_comments_verified_at timestamptz;

-- One row per completed repository and listing (`kind`: 'comments' | 'review_comments'):
-- where its catch-up starts (the listing's watermark, else the backfill's start, when its walk
-- read GitHub as it was), when it was last verified, and the repository's installation.
DROP FUNCTION comment_catch_up_plan();

CREATE FUNCTION comment_catch_up_plan()
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text, kind text,
               since timestamptz, verified_at timestamptz, installation_id bigint)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT s.id, r.id, r.owner, r.name, k.kind,
           coalesce(CASE k.kind WHEN 'comments' THEN s.comments_caught_up_to
                                ELSE s.review_comments_caught_up_to END,
                    s.started_at, s.created_at),
           CASE k.kind WHEN 'comments' THEN s.comments_verified_at
                       ELSE s.review_comments_verified_at END,
           r.installation_id
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     CROSS JOIN (VALUES ('comments'), ('review_comments')) AS k (kind)
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name, k.kind;
$$;

-- Apply one page of a review-comment catch-up: each (JSON array of {github_id, database_id,
-- number, body, created_at, updated_at, url, path, line, original_line, in_reply_to_id,
-- review_database_id, author: {github_id, login, type, database_id} | null}; the last three
-- REST ids) updates the stored review comment of that id unless the stored one is newer; a
-- reply not stored whose first comment is (by REST id, in the same PR) joins that comment's
-- thread; a comment that starts a thread is left to its PR's sync (REST does not name the
-- thread). The watermark moves forward to p_caught_up_to (never back).
-- Returns {updated, inserted, skipped}.
CREATE FUNCTION catch_up_review_comments(p_backfill_state_id uuid, p_comments jsonb,
                                         p_caught_up_to timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_repository_id uuid;
    v_updated integer;
    v_inserted integer;
BEGIN
    SELECT repository_id INTO v_repository_id
      FROM progressive_backfill_state WHERE id = p_backfill_state_id;
    IF v_repository_id IS NULL THEN
        RETURN NULL;
    END IF;

    INSERT INTO contributors (github_id, login, type, database_id)
    SELECT DISTINCT ON (c->'author'->>'github_id')
           c->'author'->>'github_id', c->'author'->>'login',
           coalesce(c->'author'->>'type', 'User'), (c->'author'->>'database_id')::bigint
      FROM jsonb_array_elements(p_comments) c
     WHERE c->'author'->>'github_id' IS NOT NULL
     ORDER BY c->'author'->>'github_id'
    ON CONFLICT (github_id) DO NOTHING;

    UPDATE review_comments rc
       SET body = coalesce(c->>'body', ''), updated_at = (c->>'updated_at')::timestamptz,
           line = (c->>'line')::integer, original_line = (c->>'original_line')::integer,
           synced_at = now()
      FROM jsonb_array_elements(p_comments) c
      JOIN pull_requests p ON p.repository_id = v_repository_id
                          AND p.number = (c->>'number')::integer
     WHERE rc.github_id = c->>'github_id' AND rc.pull_request_id = p.id
       AND (rc.updated_at IS NULL OR rc.updated_at <= (c->>'updated_at')::timestamptz)
       AND (rc.body, rc.updated_at, rc.line, rc.original_line) IS DISTINCT FROM
           (coalesce(c->>'body', ''), (c->>'updated_at')::timestamptz,
            (c->>'line')::integer, (c->>'original_line')::integer);
    GET DIAGNOSTICS v_updated = ROW_COUNT;

    INSERT INTO review_comments (pull_request_id, thread_id, github_id, database_id, review_id,
                                 in_reply_to, author_id, body, path, line, original_line,
                                 created_at, updated_at, url)
    SELECT DISTINCT ON (c->>'github_id')
           p.id, parent.thread_id, c->>'github_id', (c->>'database_id')::bigint,
           (SELECT rv.id FROM reviews rv
             WHERE rv.pull_request_id = p.id
               AND rv.database_id = (c->>'review_database_id')::bigint),
           parent.github_id,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = c->'author'->>'github_id'),
           coalesce(c->>'body', ''), coalesce(c->>'path', parent.path),
           (c->>'line')::integer, (c->>'original_line')::integer,
           (c->>'created_at')::timestamptz, (c->>'updated_at')::timestamptz, c->>'url'
      FROM jsonb_array_elements(p_comments) c
      JOIN pull_requests p ON p.repository_id = v_repository_id
                          AND p.number = (c->>'number')::integer
      JOIN review_comments parent ON parent.pull_request_id = p.id
                                 AND parent.database_id = (c->>'in_reply_to_id')::bigint
     ORDER BY c->>'github_id'
    ON CONFLICT (github_id) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    UPDATE progressive_backfill_state
       SET review_comments_caught_up_to = greatest(review_comments_caught_up_to, p_caught_up_to)
     WHERE id = p_backfill_state_id AND p_caught_up_to IS NOT NULL;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$$;

-- The stored review comments of the repository that a full listing of GitHub's (p_listed:
-- every node id it gave) does not have, created before the listing began: candidates only,
-- each confirmed gone before deletion (as comment_deletion_candidates).
CREATE FUNCTION review_comment_deletion_candidates(p_backfill_state_id uuid, p_listed text[],
                                                   p_listed_at timestamptz)
RETURNS TABLE (github_id text, database_id bigint)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT rc.github_id, rc.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN review_comments rc ON rc.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND rc.created_at < p_listed_at
       AND NOT rc.github_id = ANY (p_listed)
     ORDER BY rc.github_id;
$$;

-- Delete the repository's review comments GitHub confirmed gone (node ids; others' are
-- untouched) and stamp their verification. Returns how many were deleted.
CREATE FUNCTION delete_review_comments(p_backfill_state_id uuid, p_github_ids text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_deleted integer;
BEGIN
    DELETE FROM review_comments rc
     USING progressive_backfill_state s, pull_requests p
     WHERE s.id = p_backfill_state_id AND p.repository_id = s.repository_id
       AND rc.pull_request_id = p.id AND rc.github_id = ANY (p_github_ids);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    UPDATE progressive_backfill_state SET review_comments_verified_at = now()
     WHERE id = p_backfill_state_id;
    RETURN v_deleted;
END
$$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;
REVOKE ALL ON FUNCTION catch_up_review_comments(uuid, jsonb, timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_review_comments(uuid, jsonb, timestamptz) TO service_role;
REVOKE ALL ON FUNCTION review_comment_deletion_candidates(uuid, text[], timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION review_comment_deletion_candidates(uuid, text[], timestamptz)
    TO service_role;
REVOKE ALL ON FUNCTION delete_review_comments(uuid, text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_review_comments(uuid, text[]) TO service_role;
