-- The comment catch-ups and deletions take their backfill's row first (FOR NO KEY UPDATE,
-- which they took anyway at their end to move a watermark or stamp a verification).
-- repository_row_counts (20250661000000) is locked by every insert and delete of stored
-- rows; commit_chunk and commit_sync_chunk lock the backfill's row, then store. Taking the
-- backfill's row last, after their inserts or deletes had locked the counts row, these
-- functions could deadlock with a concurrent commit of the same repository; now every
-- writer locks in the same order.

CREATE OR REPLACE FUNCTION catch_up_comments(p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone)
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

    UPDATE progressive_backfill_state
       SET comments_caught_up_to = greatest(comments_caught_up_to, p_caught_up_to)
     WHERE id = p_backfill_state_id AND p_caught_up_to IS NOT NULL;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$function$;

REVOKE ALL ON FUNCTION catch_up_comments(uuid,jsonb,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_comments(uuid,jsonb,timestamp with time zone) TO service_role;


CREATE OR REPLACE FUNCTION catch_up_review_comments(p_backfill_state_id uuid, p_comments jsonb, p_caught_up_to timestamp with time zone)
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

    UPDATE progressive_backfill_state
       SET review_comments_caught_up_to = greatest(review_comments_caught_up_to, p_caught_up_to)
     WHERE id = p_backfill_state_id AND p_caught_up_to IS NOT NULL;

    RETURN jsonb_build_object(
        'updated', v_updated, 'inserted', v_inserted,
        'skipped', jsonb_array_length(p_comments) - v_updated - v_inserted);
END
$function$;

REVOKE ALL ON FUNCTION catch_up_review_comments(uuid,jsonb,timestamp with time zone) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION catch_up_review_comments(uuid,jsonb,timestamp with time zone) TO service_role;


CREATE OR REPLACE FUNCTION delete_comments(p_backfill_state_id uuid, p_github_ids text[])
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


CREATE OR REPLACE FUNCTION delete_review_comments(p_backfill_state_id uuid, p_github_ids text[])
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
    DELETE FROM review_comments rc
     USING progressive_backfill_state s, pull_requests p
     WHERE s.id = p_backfill_state_id AND p.repository_id = s.repository_id
       AND rc.pull_request_id = p.id AND rc.github_id = ANY (p_github_ids);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    UPDATE progressive_backfill_state SET review_comments_verified_at = now()
     WHERE id = p_backfill_state_id;
    RETURN v_deleted;
END
$function$;

REVOKE ALL ON FUNCTION delete_review_comments(uuid,text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION delete_review_comments(uuid,text[]) TO service_role;
