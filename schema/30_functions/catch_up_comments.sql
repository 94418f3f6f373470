-- Apply one page of a catch-up: each comment (JSON array of {github_id, database_id, number,
-- body, created_at, updated_at, url, author: {github_id, login, type, database_id} | null})
-- updates the stored comment of that id unless the stored one is newer, or is inserted when
-- its pull request (by number) is stored and it is not; comments of PRs not stored yet are
-- left to the PR's own sync. The watermark moves forward to p_caught_up_to (never back).
-- p_etag: the ETag of the first page of a listing that fitted on it (NULL for any other
-- page), p_listed_since: the watermark it was listed from; kept while the watermark is still
-- that one after the page is applied (its URL is the next catch-up's), cleared otherwise.
-- Returns {updated, inserted, skipped}.
CREATE OR REPLACE FUNCTION public.catch_up_comments(p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone, p_etag text DEFAULT NULL::text, p_listed_since timestamp with time zone DEFAULT NULL::timestamp with time zone)
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
