-- Chunks of one backfill failing in a row are counted in the database, not in a worker's
-- memory: several worker processes, on one machine or many, taking turns on a backfill whose
-- pages always fail reach the bound together (each process alone never did: each release
-- let another claim it, counting from zero).
--
--   failures_in_a_row   failures of the work since the backfill's last committed page:
--                       incremented by fail_chunk_in_a_row, reset to 0 by commit_chunk and
--                       commit_sync_chunk, and by retry_backfill and reopen_backfill (a
--                       backfill started again counts afresh).
--
-- fail_chunk (20250105000000) stays as it was, for failures that are not the work's (a rate
-- limit waited out, a page not stored because the lease moved on, a worker stopping): they
-- neither count nor reset.

ALTER TABLE progressive_backfill_state
    ADD COLUMN failures_in_a_row integer NOT NULL DEFAULT 0 CHECK (failures_in_a_row >= 0);

-- Fail the chunk (as fail_chunk does, fenced by its claim token) as one more failure of its
-- backfill in a row. The cooldown doubles with each failure in a row: p_cooldown_seconds
-- after the first, twice that after the second, ... at most ten minutes (0 stays 0: a
-- smaller page is tried at once). At p_max_failures_in_a_row the backfill is failed with
-- the count and the last reason, its lease released; a sync (the repository stays
-- completed) gives up instead: its lease released, resting ten minutes, counting afresh.
-- Answers whether the chunk was failed, the count, whether the bound was reached (gave_up),
-- the cooldown applied and the backfill's last_error.
CREATE FUNCTION fail_chunk_in_a_row(p_chunk_id uuid, p_claim_token bigint, p_error text,
                                    p_cooldown_seconds integer,
                                    p_max_failures_in_a_row integer)
RETURNS TABLE (failed boolean, in_a_row integer, gave_up boolean, cooldown_seconds integer,
               reason text)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
    v_kind text;
    v_count integer;
    v_error text := left(coalesce(NULLIF(p_error, ''), 'unknown error'), 2000);
BEGIN
    IF p_max_failures_in_a_row IS NULL OR p_max_failures_in_a_row < 1 THEN
        RAISE EXCEPTION 'the bound on failures in a row must be at least 1' USING ERRCODE = '22023';
    END IF;
    failed := false; in_a_row := NULL; gave_up := false; cooldown_seconds := 0; reason := NULL;
    SELECT c.backfill_state_id, c.kind INTO v_state_id, v_kind
      FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND OR NOT fail_chunk(p_chunk_id, p_claim_token, v_error, 0) THEN
        RETURN NEXT;  -- no such chunk, or not this claim's to fail (recovered, taken over)
        RETURN;
    END IF;
    failed := true;
    -- fail_chunk locked the backfill row; its update is fenced by the claim like this one.
    UPDATE progressive_backfill_state s
       SET failures_in_a_row = s.failures_in_a_row + 1
     WHERE s.id = v_state_id AND s.claim_token = p_claim_token
    RETURNING s.failures_in_a_row INTO v_count;
    IF NOT FOUND THEN
        RETURN NEXT;  -- the backfill was claimed again since: only the chunk is failed
        RETURN;
    END IF;
    in_a_row := v_count;
    IF v_count < p_max_failures_in_a_row THEN
        cooldown_seconds := least(600, greatest(p_cooldown_seconds, 0)
                                       * 2 ^ least(v_count - 1, 20))::integer;
        reason := v_error;
        UPDATE progressive_backfill_state s
           SET cooldown_until = CASE WHEN cooldown_seconds > 0
                                     THEN now() + make_interval(secs => cooldown_seconds) END
         WHERE s.id = v_state_id;
        RETURN NEXT;
        RETURN;
    END IF;
    gave_up := true;
    reason := left(format('%s %s failed in a row; last: %s', v_count,
                          CASE WHEN v_kind = 'sync' THEN 'sync pages' ELSE 'chunks' END,
                          v_error), 2000);
    cooldown_seconds := CASE WHEN v_kind = 'sync' THEN 600 ELSE 0 END;
    UPDATE progressive_backfill_state s
       SET status = CASE WHEN v_kind = 'sync' THEN s.status ELSE 'failed' END,
           completed_at = CASE WHEN v_kind = 'sync' THEN s.completed_at END,
           failures_in_a_row = CASE WHEN v_kind = 'sync' THEN 0 ELSE s.failures_in_a_row END,
           last_error = reason,
           cooldown_until = CASE WHEN v_kind = 'sync'
                                 THEN now() + make_interval(secs => 600) END,
           leased_by = NULL, lease_expires_at = NULL, waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id;
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION fail_chunk_in_a_row(uuid, bigint, text, integer, integer)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION fail_chunk_in_a_row(uuid, bigint, text, integer, integer)
    TO service_role;

-- commit_chunk as in 20250230000000_smallest_bad_unit_refused.sql; a committed page ends the
-- row of failures.
CREATE OR REPLACE FUNCTION commit_chunk(p_chunk_id uuid, p_claim_token bigint,
                                        p_pull_requests jsonb, p_cursor_after text,
                                        p_has_next_page boolean, p_total_prs integer)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
    v_state progressive_backfill_state%ROWTYPE;
    v_chunk backfill_chunks%ROWTYPE;
    v_stored record;
    v_refused jsonb := '[]';
    v_inserted integer := 0;
    v_upserted integer := 0;
    v_reviews integer := 0;
    v_comments integer := 0;
    v_numbers integer[] := '{}';
    v_failures integer;
    v_short boolean;
    v_checks integer;
    v_note text;
BEGIN
    IF jsonb_typeof(p_pull_requests) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'p_pull_requests must be a JSON array' USING ERRCODE = '22023';
    END IF;

    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'chunk does not exist');
    END IF;
    -- Lock order: backfill row, then chunk (start_chunk and recovery take them the same way).
    SELECT * INTO v_state FROM progressive_backfill_state s WHERE s.id = v_state_id FOR UPDATE;
    SELECT * INTO v_chunk FROM backfill_chunks c WHERE c.id = p_chunk_id FOR UPDATE;

    IF v_chunk.status <> 'processing' OR v_chunk.claim_token IS DISTINCT FROM p_claim_token THEN
        RETURN jsonb_build_object('committed', false,
                                  'reason', format('chunk is %s', v_chunk.status));
    END IF;
    IF v_state.claim_token IS DISTINCT FROM p_claim_token
       OR v_state.lease_expires_at IS NULL OR v_state.lease_expires_at <= now() THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'lease lost');
    END IF;

    -- The page's refused PRs recorded, the rest stored in one statement per table, or PR by
    -- PR with the ones the database refuses recorded too.
    SELECT * INTO v_stored FROM store_page(v_state.repository_id, p_chunk_id, p_pull_requests);
    v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
    v_reviews := v_stored.reviews; v_comments := v_stored.comments;
    v_numbers := v_stored.numbers; v_refused := v_stored.refused;

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after,
           error = CASE WHEN jsonb_array_length(v_refused) > 0
                        THEN format('%s PR(s) refused: %s',
                                    jsonb_array_length(v_refused), v_refused) END
     WHERE id = p_chunk_id;

    -- Completion agrees with GitHub's own count, or is checked again.
    SELECT count(*) INTO v_failures
      FROM pull_request_failures f WHERE f.repository_id = v_state.repository_id;
    v_short := NOT p_has_next_page AND coalesce(p_total_prs, 0) > 0
               AND v_state.processed_prs + v_inserted + v_failures < p_total_prs;
    v_checks := CASE WHEN NOT v_short THEN 0
                     WHEN v_inserted > 0 THEN 1
                     ELSE v_state.error_count + 1 END;
    IF v_short THEN
        v_note := format('GitHub''s list of pull requests ended at %s stored of the %s it counts',
                         v_state.processed_prs + v_inserted, p_total_prs)
               || CASE WHEN v_failures > 0 THEN format(' (%s refused)', v_failures) ELSE '' END
               || CASE WHEN v_checks >= 3
                       THEN format('; checked %s times with fresh counts, nothing new: the '
                                   'difference is on GitHub''s side (retry to check again)',
                                   v_checks)
                       ELSE format('; checking again with a fresh count (%s of 3)', v_checks)
                  END;
    ELSE
        v_note := refused_note(v_state.repository_id, v_refused);
    END IF;

    UPDATE progressive_backfill_state s
       SET cursor = coalesce(p_cursor_after, s.cursor),
           processed_prs = s.processed_prs + v_inserted,
           total_prs = NULLIF(p_total_prs, 0),
           status = CASE WHEN v_short AND v_checks >= 3 THEN 'failed'
                         WHEN NOT p_has_next_page AND NOT v_short THEN 'completed'
                         WHEN s.status = 'paused' THEN 'paused'
                         ELSE 'active' END,
           completed_at = CASE WHEN NOT p_has_next_page AND NOT v_short THEN now() END,
           leased_by = CASE WHEN p_has_next_page THEN s.leased_by END,
           lease_expires_at = CASE WHEN p_has_next_page THEN s.lease_expires_at END,
           error_count = v_checks,
           failures_in_a_row = 0,
           last_error = v_note,
           cooldown_until = CASE WHEN v_short AND v_checks < 3
                                 THEN now() + make_interval(secs => 60 * 2 ^ (v_checks - 1))
                            END,
           waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id
    RETURNING * INTO v_state;

    RETURN jsonb_build_object(
        'committed', true, 'inserted_prs', v_inserted, 'upserted_prs', v_upserted,
        'reviews', v_reviews, 'comments', v_comments, 'processed_prs', v_state.processed_prs,
        'total_prs', v_state.total_prs, 'status', v_state.status,
        'refused', v_refused, 'note', v_note);
END
$$;

-- commit_sync_chunk as in 20250230000000_smallest_bad_unit_refused.sql; a committed page ends
-- the row of failures.
CREATE OR REPLACE FUNCTION commit_sync_chunk(p_chunk_id uuid, p_claim_token bigint,
                                             p_pull_requests jsonb, p_cursor_after text,
                                             p_done boolean, p_total_prs integer)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_state_id uuid;
    v_state progressive_backfill_state%ROWTYPE;
    v_chunk backfill_chunks%ROWTYPE;
    v_stored record;
    v_deleted record;
    v_refused jsonb := '[]';
    v_inserted integer := 0;
    v_upserted integer := 0;
    v_reviews integer := 0;
    v_comments integer := 0;
    v_numbers integer[] := '{}';
    v_newest timestamptz;
    v_note text;
BEGIN
    IF jsonb_typeof(p_pull_requests) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'p_pull_requests must be a JSON array' USING ERRCODE = '22023';
    END IF;

    SELECT c.backfill_state_id INTO v_state_id FROM backfill_chunks c WHERE c.id = p_chunk_id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'chunk does not exist');
    END IF;
    -- Lock order: backfill row, then chunk (as commit_chunk, start_chunk and recovery).
    SELECT * INTO v_state FROM progressive_backfill_state s WHERE s.id = v_state_id FOR UPDATE;
    SELECT * INTO v_chunk FROM backfill_chunks c WHERE c.id = p_chunk_id FOR UPDATE;

    IF v_chunk.kind <> 'sync' THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'not a sync chunk');
    END IF;
    IF v_chunk.status <> 'processing' OR v_chunk.claim_token IS DISTINCT FROM p_claim_token THEN
        RETURN jsonb_build_object('committed', false,
                                  'reason', format('chunk is %s', v_chunk.status));
    END IF;
    IF v_state.claim_token IS DISTINCT FROM p_claim_token
       OR v_state.lease_expires_at IS NULL OR v_state.lease_expires_at <= now() THEN
        RETURN jsonb_build_object('committed', false, 'reason', 'lease lost');
    END IF;

    -- The page's refused PRs recorded, the rest stored (as commit_chunk).
    SELECT * INTO v_stored FROM store_page(v_state.repository_id, p_chunk_id, p_pull_requests);
    v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
    v_reviews := v_stored.reviews; v_comments := v_stored.comments;
    v_numbers := v_stored.numbers; v_refused := v_stored.refused;

    -- Reviews and comments GitHub no longer lists go, for the PRs stored (never by a
    -- refusal, which lists none).
    SELECT * INTO v_deleted
      FROM replace_pull_request_children(
               v_state.repository_id,
               (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(p_pull_requests) e
                 WHERE NOT e ? 'refused'),
               v_numbers);

    -- The watermark moves with the PRs the walk read; a refused PR asked for again alone is
    -- not part of the walk (it may be newer than the walk's start).
    SELECT max((pr->>'updated_at')::timestamptz) INTO v_newest
      FROM jsonb_array_elements(p_pull_requests) pr
     WHERE (pr->>'number') ~ '^\d{1,9}$' AND (pr->>'number')::integer = ANY (v_numbers)
       AND NOT pr ? 'refused' AND pr->>'retry_of' IS NULL;

    v_note := refused_note(v_state.repository_id, v_refused);

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after,
           error = CASE WHEN jsonb_array_length(v_refused) > 0
                        THEN format('%s PR(s) refused: %s',
                                    jsonb_array_length(v_refused), v_refused) END
     WHERE id = p_chunk_id;

    UPDATE progressive_backfill_state s
       SET processed_prs = s.processed_prs + v_inserted,
           total_prs = coalesce(NULLIF(p_total_prs, 0), s.total_prs),
           sync_cursor = CASE WHEN p_done THEN NULL
                              ELSE coalesce(p_cursor_after, s.sync_cursor) END,
           sync_target = CASE WHEN p_done THEN NULL ELSE greatest(s.sync_target, v_newest) END,
           sync_watermark = CASE WHEN p_done
                                 THEN greatest(s.sync_watermark, s.sync_target, v_newest)
                                 ELSE s.sync_watermark END,
           synced_at = CASE WHEN p_done THEN now() ELSE s.synced_at END,
           fresh_as_of = CASE WHEN p_done THEN coalesce(s.sync_walk_started_at, now())
                              ELSE s.fresh_as_of END,
           sync_walk_started_at = CASE WHEN p_done THEN NULL ELSE s.sync_walk_started_at END,
           sync_count = s.sync_count + CASE WHEN p_done THEN 1 ELSE 0 END,
           leased_by = CASE WHEN p_done THEN NULL ELSE s.leased_by END,
           lease_expires_at = CASE WHEN p_done THEN NULL ELSE s.lease_expires_at END,
           error_count = 0, failures_in_a_row = 0, last_error = v_note, cooldown_until = NULL,
           waiting_until = NULL, updated_at = now()
     WHERE s.id = v_state_id
    RETURNING * INTO v_state;

    RETURN jsonb_build_object(
        'committed', true, 'inserted_prs', v_inserted, 'upserted_prs', v_upserted,
        'reviews', v_reviews, 'comments', v_comments,
        'reviews_deleted', v_deleted.reviews_deleted,
        'comments_deleted', v_deleted.comments_deleted,
        'processed_prs', v_state.processed_prs, 'total_prs', v_state.total_prs,
        'status', v_state.status, 'done', p_done, 'watermark', v_state.sync_watermark,
        'refused', v_refused, 'note', v_note);
END
$$;

-- retry_backfill as in 20250200000000_retry_routes_again.sql; the retried backfill counts afresh.
CREATE OR REPLACE FUNCTION retry_backfill(p_backfill_state_id uuid)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH retried AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', last_error = NULL, error_count = 0, failures_in_a_row = 0,
               cooldown_until = NULL, waiting_until = NULL, updated_at = now()
         WHERE id = p_backfill_state_id AND status = 'failed'
        RETURNING repository_id
    ), rerouted AS (
        UPDATE repositories r
           SET installation_id = NULL, updated_at = now()
          FROM retried
         WHERE r.id = retried.repository_id AND r.installation_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM retried);
$$;

-- reopen_backfill as in 20250107000000_backfill_control.sql; the reopened backfill counts afresh.
CREATE OR REPLACE FUNCTION reopen_backfill(p_backfill_state_id uuid, p_total_prs integer)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH reopened AS (
        UPDATE progressive_backfill_state
           SET status = 'pending', completed_at = NULL, last_error = NULL, error_count = 0,
               failures_in_a_row = 0, cooldown_until = NULL,
               total_prs = NULLIF(p_total_prs, 0), updated_at = now()
         WHERE id = p_backfill_state_id AND status IN ('completed', 'failed')
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM reopened);
$$;

NOTIFY pgrst, 'reload schema';
