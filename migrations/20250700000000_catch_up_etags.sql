-- The catch-up's first page's ETag kept in the database (core.backfill.comment_catch_up):
-- each catch-up asks `GET .../{issues|pulls}/comments?since=W&sort=updated&direction=asc`
-- with W its listing's watermark, which only moves when newer comments are stored, so an
-- unchanged repository asks the same URL every round. Sent as If-None-Match, the stored ETag
-- makes that request a 304, which GitHub does not count against the REST budget
-- (docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api); kept in
-- process memory only, every new `sync` and every restarted worker paid one request per
-- repository and listing.
--
--   comments_etag         ETag of the conversation comments' first page listed from the
--                         current watermark, when that listing fitted on the page (NULL:
--                         none, or the watermark moved since: it tagged another URL)
--   review_comments_etag  the same for inline review comments (/pulls/comments)
--
-- Written with the page it tags, by the function that applies the page and moves the
-- watermark (one transaction): a stored ETag always names a page whose comments are stored,
-- so a 304 on it means there is nothing to apply.

ALTER TABLE progressive_backfill_state
    ADD COLUMN comments_etag text,
    ADD COLUMN review_comments_etag text;

DROP FUNCTION comment_catch_up_plan();

-- One row per completed repository and listing (`kind`: 'comments' | 'review_comments'):
-- where its catch-up starts (the listing's watermark, else the backfill's start, when its walk
-- read GitHub as it was), the ETag of that start's first page (NULL: none kept), when it was
-- last verified, and the repository's installation.
CREATE FUNCTION comment_catch_up_plan()
RETURNS TABLE (backfill_state_id uuid, repository_id uuid, owner text, name text, kind text,
               since timestamptz, verified_at timestamptz, installation_id bigint,
               etag text)
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
           r.installation_id,
           CASE k.kind WHEN 'comments' THEN s.comments_etag ELSE s.review_comments_etag END
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     CROSS JOIN (VALUES ('comments'), ('review_comments')) AS k (kind)
     WHERE s.status = 'completed'
     ORDER BY r.owner, r.name, k.kind;
$$;

REVOKE ALL ON FUNCTION comment_catch_up_plan() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_catch_up_plan() TO service_role;


-- catch_up_comments (latest: 20250662000000) with the page's ETag: p_etag is the ETag of the first
-- page of a listing that fitted on it (NULL for any other page), p_listed_since the watermark
-- it was listed from (the plan's `since`); it is kept when the watermark is still that one
-- after the page is applied, and cleared otherwise (its URL is no longer the one asked).
DROP FUNCTION catch_up_comments(uuid, jsonb, timestamp with time zone);

CREATE FUNCTION catch_up_comments(p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone, p_etag text DEFAULT NULL, p_listed_since timestamp with time zone DEFAULT NULL)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_repository_id uuid;
    v_updated integer;
    v_inserted integer;
BEGIN
    SELECT repository_id INTO v_repository_id
      FROM progressive_backfill_state WHERE id = p_backfill_state_id
       FOR NO KEY UPDATE;
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

    -- The ETag is kept only while it tags the URL the next catch-up asks: the page was
    -- listed from the watermark the listing still starts at once this page is applied.
    UPDATE progressive_backfill_state
       SET comments_caught_up_to = greatest(comments_caught_up_to, p_caught_up_to),
           comments_etag = CASE
               WHEN p_etag IS NOT NULL
                AND coalesce(greatest(comments_caught_up_to, p_caught_up_to), started_at,
                             created_at) = p_listed_since
               THEN p_etag END
     WHERE id = p_backfill_state_id;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$function$;

REVOKE ALL ON FUNCTION catch_up_comments(uuid,jsonb,timestamp with time zone,text,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_comments(uuid,jsonb,timestamp with time zone,text,timestamp with time zone) TO service_role;


-- catch_up_review_comments (latest: 20250662000000) with the page's ETag: p_etag is the ETag of the first
-- page of a listing that fitted on it (NULL for any other page), p_listed_since the watermark
-- it was listed from (the plan's `since`); it is kept when the watermark is still that one
-- after the page is applied, and cleared otherwise (its URL is no longer the one asked).
DROP FUNCTION catch_up_review_comments(uuid, jsonb, timestamp with time zone);

CREATE FUNCTION catch_up_review_comments(p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone, p_etag text DEFAULT NULL, p_listed_since timestamp with time zone DEFAULT NULL)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_repository_id uuid;
    v_updated integer;
    v_inserted integer;
BEGIN
    SELECT repository_id INTO v_repository_id
      FROM progressive_backfill_state WHERE id = p_backfill_state_id
       FOR NO KEY UPDATE;
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

    -- The ETag is kept only while it tags the URL the next catch-up asks: the page was
    -- listed from the watermark the listing still starts at once this page is applied.
    UPDATE progressive_backfill_state
       SET review_comments_caught_up_to = greatest(review_comments_caught_up_to, p_caught_up_to),
           review_comments_etag = CASE
               WHEN p_etag IS NOT NULL
                AND coalesce(greatest(review_comments_caught_up_to, p_caught_up_to), started_at,
                             created_at) = p_listed_since
               THEN p_etag END
     WHERE id = p_backfill_state_id;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$function$;

REVOKE ALL ON FUNCTION catch_up_review_comments(uuid,jsonb,timestamp with time zone,text,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_review_comments(uuid,jsonb,timestamp with time zone,text,timestamp with time zone) TO service_role;
