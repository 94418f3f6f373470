-- Edits and deletions of comments GitHub does not signal on the pull request: editing or
-- deleting a comment is not documented to move the PR's updatedAt, so the sync's walk by
-- updatedAt can miss both. Per completed repository, a catch-up reads GitHub's REST listing of
-- the comments updated since a watermark and applies them, and a verification lists every
-- comment id GitHub still has and deletes the stored ones it no longer has
-- (core.backfill.comment_catch_up).
--
--   comments_caught_up_to  GitHub's updated_at of the newest comment a catch-up applied
--                          (NULL: none yet; the catch-up starts at the backfill's start)
--   comments_verified_at   when (database clock) the last verification finished

ALTER TABLE progressive_backfill_state
    ADD COLUMN comments_caught_up_to timestamptz,
    ADD COLUMN comments_verified_at timestamptz;

-- The completed repositories with where their catch-up starts (`since`: the watermark, else
-- the backfill's start, when its walk read GitHub as it was) and when they were last verified.
CREATE FUNCTION comment_catch_up_plan()
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text,
               since timestamptz, verified_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT s.id, r.id, r.owner, r.name,
           coalesce(s.comments_caught_up_to, s.started_at, s.created_at),
           s.comments_verified_at
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name;
$$;

-- Apply one page of a catch-up: each comment (JSON array of {github_id, database_id, number,
-- body, created_at, updated_at, url, author: {github_id, login, type, database_id} | null})
-- updates the stored comment of that id unless the stored one is newer, or is inserted when
-- its pull request (by number) is stored and it is not; comments of PRs not stored yet are
-- left to the PR's own sync. The watermark moves forward to p_caught_up_to (never back).
-- Returns {updated, inserted, skipped}.
CREATE FUNCTION catch_up_comments(p_backfill_state_id uuid, p_comments jsonb,
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

    UPDATE comments cm
       SET body = coalesce(c->>'body', ''), updated_at = (c->>'updated_at')::timestamptz,
           synced_at = now()
      FROM jsonb_array_elements(p_comments) c
      JOIN pull_requests p ON p.repository_id = v_repository_id
                          AND p.number = (c->>'number')::integer
     WHERE cm.github_id = c->>'github_id' AND cm.pull_request_id = p.id
       AND (cm.updated_at IS NULL OR cm.updated_at <= (c->>'updated_at')::timestamptz)
       AND (cm.body, cm.updated_at) IS DISTINCT FROM
           (coalesce(c->>'body', ''), (c->>'updated_at')::timestamptz);
    GET DIAGNOSTICS v_updated = ROW_COUNT;

    INSERT INTO comments (pull_request_id, github_id, database_id, author_id, body,
                          created_at, updated_at, url)
    SELECT DISTINCT ON (c->>'github_id')
           p.id, c->>'github_id', (c->>'database_id')::bigint,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = c->'author'->>'github_id'),
           coalesce(c->>'body', ''), (c->>'created_at')::timestamptz,
           (c->>'updated_at')::timestamptz, c->>'url'
      FROM jsonb_array_elements(p_comments) c
      JOIN pull_requests p ON p.repository_id = v_repository_id
                          AND p.number = (c->>'number')::integer
     ORDER BY c->>'github_id'
    ON CONFLICT (github_id) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    UPDATE progressive_backfill_state
       SET comments_caught_up_to = greatest(comments_caught_up_to, p_caught_up_to)
     WHERE id = p_backfill_state_id AND p_caught_up_to IS NOT NULL;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$$;

-- The stored comments of the repository that a full listing of GitHub's (p_listed: every
-- node id it gave) does not have, created before the listing began (p_listed_at: a comment
-- created since may be stored but not listed). Candidates only: a listing by pages can skip
-- an item when another is deleted meanwhile, so each is confirmed gone before deletion.
CREATE FUNCTION comment_deletion_candidates(p_backfill_state_id uuid, p_listed text[],
                                            p_listed_at timestamptz)
RETURNS TABLE (github_id text, database_id bigint)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT cm.github_id, cm.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN comments cm ON cm.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND cm.created_at < p_listed_at
       AND NOT cm.github_id = ANY (p_listed)
     ORDER BY cm.github_id;
$$;

-- Delete the repository's comments GitHub confirmed gone (node ids; others' are untouched)
-- and stamp the verification. Returns how many were deleted.
CREATE FUNCTION delete_comments(p_backfill_state_id uuid, p_github_ids text[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_deleted integer;
BEGIN
    DELETE FROM comments cm
     USING progressive_backfill_state s, pull_requests p
     WHERE s.id = p_backfill_state_id AND p.repository_id = s.repository_id
       AND cm.pull_request_id = p.id AND cm.github_id = ANY (p_github_ids);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    UPDATE progressive_backfill_state SET comments_verified_at = now()
     WHERE id = p_backfill_state_id;
    RETURN v_deleted;
END
$$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;
REVOKE ALL ON FUNCTION catch_up_comments(uuid, jsonb, timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_comments(uuid, jsonb, timestamptz) TO service_role;
REVOKE ALL ON FUNCTION comment_deletion_candidates(uuid, text[], timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_deletion_candidates(uuid, text[], timestamptz) TO service_role;
REVOKE ALL ON FUNCTION delete_comments(uuid, text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_comments(uuid, text[]) TO service_role;
