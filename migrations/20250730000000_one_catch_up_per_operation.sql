-- The comment upkeep's SQL once per operation, the kind of comment an argument: each of the
-- catch-up, the deletion candidates and the deletion existed twice, once for conversation
-- comments and once for inline review comments, the two copies differing only in their
-- table, the columns of their own listing's state and the catch-up's fields. A fix made in
-- one copy (the lock order of 20250662000000, the ETag of 20250700000000) had to be made in
-- the other by hand. Now each is one function taking p_kind ('comments' | 'review_comments',
-- the kind comment_catch_up_plan names), which the caller passes from the plan it acts on.
-- The per-kind functions are dropped: only this product's Python calls them, by name, with
-- named arguments, and it moves with this migration.

DROP FUNCTION catch_up_comments(uuid, jsonb, timestamp with time zone, text,
                                timestamp with time zone);
DROP FUNCTION catch_up_review_comments(uuid, jsonb, timestamp with time zone, text,
                                       timestamp with time zone);
DROP FUNCTION comment_deletion_candidates(uuid, text[], timestamp with time zone);
DROP FUNCTION review_comment_deletion_candidates(uuid, text[], timestamp with time zone);
DROP FUNCTION delete_comments(uuid, text[]);
DROP FUNCTION delete_review_comments(uuid, text[]);

-- p_kind itself, when it names a kind of comment the upkeep keeps ('comments',
-- 'review_comments'); raises invalid_parameter_value (22023) otherwise, so a mistaken kind is
-- an error, never a silent no-op (or a verification that finds nothing to delete).
CREATE FUNCTION comment_kind(p_kind text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('comments', 'review_comments') THEN
        RAISE EXCEPTION 'unknown kind of comment: %', coalesce(p_kind, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_kind;
END
$$;

REVOKE ALL ON FUNCTION comment_kind(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_kind(text) TO service_role;

-- Apply one page of a catch-up of p_kind's listing and move that listing's watermark to
-- p_caught_up_to (never back). p_comments: a JSON array of {github_id, database_id, number,
-- body, created_at, updated_at, url, author: {github_id, login, type, database_id} | null},
-- review comments also {path, line, original_line, in_reply_to_id, review_database_id} (the
-- last two REST ids). Each updates the stored comment of that id unless the stored one is
-- newer. One not stored is inserted when it can be placed: a conversation comment when its
-- pull request (by number) is stored; a review comment when it is a reply whose first comment
-- is stored (by REST id, in the same PR: it joins that comment's thread). The others are left
-- to their PR's sync (REST does not name a thread that a comment starts).
-- p_etag: the ETag of the first page of a listing that fitted on it (NULL for any other
-- page), p_listed_since: the watermark it was listed from; kept while the watermark is still
-- that one after the page is applied (its URL is the next catch-up's), cleared otherwise.
-- Returns {updated, inserted, skipped}; NULL when the backfill is gone; raises 22023 for an
-- unknown kind.
CREATE FUNCTION catch_up_comments(p_kind text, p_backfill_state_id uuid, p_comments jsonb,
                                  p_caught_up_to timestamptz, p_etag text DEFAULT NULL,
                                  p_listed_since timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state progressive_backfill_state;
    v_caught_up_to timestamptz;
    v_etag text;
    v_updated integer;
    v_inserted integer;
BEGIN
    PERFORM comment_kind(p_kind);
    -- The backfill's row first, as commit_chunk and commit_sync_chunk take it: the rows
    -- this writes then lock repository_row_counts in the same order they do (no deadlock).
    SELECT * INTO v_state
      FROM progressive_backfill_state WHERE id = p_backfill_state_id
       FOR NO KEY UPDATE;
    IF v_state.id IS NULL THEN
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

    IF p_kind = 'comments' THEN
        UPDATE comments cm
           SET body = coalesce(c->>'body', ''), updated_at = (c->>'updated_at')::timestamptz,
               synced_at = now()
          FROM jsonb_array_elements(p_comments) c
          JOIN pull_requests p ON p.repository_id = v_state.repository_id
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
          JOIN pull_requests p ON p.repository_id = v_state.repository_id
                              AND p.number = (c->>'number')::integer
         ORDER BY c->>'github_id'
        ON CONFLICT (github_id) DO NOTHING;
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
    ELSE
        UPDATE review_comments rc
           SET body = coalesce(c->>'body', ''), updated_at = (c->>'updated_at')::timestamptz,
               line = (c->>'line')::integer, original_line = (c->>'original_line')::integer,
               synced_at = now()
          FROM jsonb_array_elements(p_comments) c
          JOIN pull_requests p ON p.repository_id = v_state.repository_id
                              AND p.number = (c->>'number')::integer
         WHERE rc.github_id = c->>'github_id' AND rc.pull_request_id = p.id
           AND (rc.updated_at IS NULL OR rc.updated_at <= (c->>'updated_at')::timestamptz)
           AND (rc.body, rc.updated_at, rc.line, rc.original_line) IS DISTINCT FROM
               (coalesce(c->>'body', ''), (c->>'updated_at')::timestamptz,
                (c->>'line')::integer, (c->>'original_line')::integer);
        GET DIAGNOSTICS v_updated = ROW_COUNT;

        INSERT INTO review_comments (pull_request_id, thread_id, github_id, database_id,
                                     review_id, in_reply_to, author_id, body, path, line,
                                     original_line, created_at, updated_at, url)
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
          JOIN pull_requests p ON p.repository_id = v_state.repository_id
                              AND p.number = (c->>'number')::integer
          JOIN review_comments parent ON parent.pull_request_id = p.id
                                     AND parent.database_id = (c->>'in_reply_to_id')::bigint
         ORDER BY c->>'github_id'
        ON CONFLICT (github_id) DO NOTHING;
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
    END IF;

    v_caught_up_to := greatest(CASE p_kind WHEN 'comments' THEN v_state.comments_caught_up_to
                                           ELSE v_state.review_comments_caught_up_to END,
                               p_caught_up_to);
    -- The ETag is kept only while it tags the URL the next catch-up asks: the page was
    -- listed from the watermark the listing still starts at once this page is applied.
    IF p_etag IS NOT NULL
       AND coalesce(v_caught_up_to, v_state.started_at, v_state.created_at) = p_listed_since THEN
        v_etag := p_etag;
    END IF;
    UPDATE progressive_backfill_state s
       SET comments_caught_up_to = CASE p_kind WHEN 'comments' THEN v_caught_up_to
                                               ELSE s.comments_caught_up_to END,
           comments_etag = CASE p_kind WHEN 'comments' THEN v_etag ELSE s.comments_etag END,
           review_comments_caught_up_to = CASE p_kind WHEN 'review_comments' THEN v_caught_up_to
                                                      ELSE s.review_comments_caught_up_to END,
           review_comments_etag = CASE p_kind WHEN 'review_comments' THEN v_etag
                                              ELSE s.review_comments_etag END
     WHERE s.id = p_backfill_state_id;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$$;

REVOKE ALL ON FUNCTION catch_up_comments(text, uuid, jsonb, timestamptz, text, timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_comments(text, uuid, jsonb, timestamptz, text, timestamptz)
    TO service_role;

-- The stored comments of p_kind of the repository that a full listing of GitHub's (p_listed:
-- every node id it gave) does not have, created before the listing began (p_listed_at: a
-- comment created since may be stored but not listed). Candidates only: a listing by pages
-- can skip an item when another is deleted meanwhile, so each is confirmed gone before
-- deletion. Raises 22023 for an unknown kind.
CREATE FUNCTION comment_deletion_candidates(p_kind text, p_backfill_state_id uuid,
                                            p_listed text[], p_listed_at timestamptz)
RETURNS TABLE (github_id text, database_id bigint)
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    -- Only the branch of p_kind's table runs: the other's kind is a constant that does not
    -- match, a filter decided once before its scan.
    SELECT c.github_id, c.database_id
      FROM progressive_backfill_state s
      JOIN pull_requests p ON p.repository_id = s.repository_id
      JOIN (SELECT 'comments' AS kind, pull_request_id, github_id, database_id, created_at
              FROM comments
            UNION ALL
            SELECT 'review_comments', pull_request_id, github_id, database_id, created_at
              FROM review_comments) c ON c.pull_request_id = p.id
     WHERE s.id = p_backfill_state_id
       AND c.kind = comment_kind(p_kind)
       AND c.created_at < p_listed_at
       AND NOT c.github_id = ANY (p_listed)
     ORDER BY c.github_id;
$$;

REVOKE ALL ON FUNCTION comment_deletion_candidates(text, uuid, text[], timestamptz)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_deletion_candidates(text, uuid, text[], timestamptz)
    TO service_role;

-- Delete the repository's comments of p_kind GitHub confirmed gone (node ids; others' are
-- untouched) and stamp that kind's verification. Returns how many were deleted; raises 22023
-- for an unknown kind.
CREATE FUNCTION delete_comments(p_kind text, p_backfill_state_id uuid, p_github_ids text[])
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
       SET comments_verified_at = CASE p_kind WHEN 'comments' THEN now()
                                              ELSE s.comments_verified_at END,
           review_comments_verified_at = CASE p_kind WHEN 'review_comments' THEN now()
                                                     ELSE s.review_comments_verified_at END
     WHERE s.id = p_backfill_state_id;
    RETURN v_deleted;
END
$$;

REVOKE ALL ON FUNCTION delete_comments(text, uuid, text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_comments(text, uuid, text[]) TO service_role;
