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
CREATE OR REPLACE FUNCTION public.catch_up_comments(p_kind text, p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone, p_etag text DEFAULT NULL::text, p_listed_since timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION catch_up_comments(text,uuid,jsonb,timestamp with time zone,text,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_comments(text,uuid,jsonb,timestamp with time zone,text,timestamp with time zone) TO service_role;
