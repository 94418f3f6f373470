-- One rule for storing a page, used by both commits (it was written twice, once in
-- commit_chunk and again in commit_sync_chunk): the whole page in one statement per table;
-- if Postgres refuses some PR's data, the page again PR by PR, each refused PR recorded in
-- pull_request_failures with Postgres' message and returned in `refused`. The commits keep
-- their own fencing, chunk and backfill bookkeeping; what they store and report is unchanged.

CREATE FUNCTION store_page(p_repository_id uuid, p_chunk_id uuid, p_pull_requests jsonb,
                           OUT inserted integer, OUT upserted integer, OUT reviews integer,
                           OUT comments integer, OUT numbers integer[], OUT refused jsonb)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_one record;
    v_pr jsonb;
    v_message text;
BEGIN
    inserted := 0; upserted := 0; reviews := 0; comments := 0; numbers := '{}'; refused := '[]';
    BEGIN  -- the whole page at once: the common case, one statement per table
        SELECT s.inserted, s.upserted, s.reviews, s.comments, s.numbers
          INTO inserted, upserted, reviews, comments, numbers
          FROM store_pull_requests(p_repository_id, p_pull_requests) s;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR cardinality_violation THEN
        -- Some PR's data is refused: store the page PR by PR and record the refused ones.
        FOR v_pr IN SELECT e FROM jsonb_array_elements(p_pull_requests) e LOOP
            BEGIN
                SELECT * INTO v_one
                  FROM store_pull_requests(p_repository_id, jsonb_build_array(v_pr));
                inserted := inserted + v_one.inserted;
                upserted := upserted + v_one.upserted;
                reviews := reviews + v_one.reviews;
                comments := comments + v_one.comments;
                numbers := numbers || v_one.numbers;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation
                           OR cardinality_violation THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                INSERT INTO pull_request_failures AS f
                       (repository_id, github_id, number, chunk_id, error)
                VALUES (p_repository_id,
                        coalesce(v_pr->>'github_id', format('(no id, #%s)', v_pr->>'number')),
                        CASE WHEN v_pr->>'number' ~ '^\d{1,18}$'
                             THEN (v_pr->>'number')::bigint END,
                        p_chunk_id, v_message)
                ON CONFLICT (repository_id, github_id) DO UPDATE
                   SET number = EXCLUDED.number, chunk_id = EXCLUDED.chunk_id,
                       error = EXCLUDED.error, failed_at = now();
                refused := refused || jsonb_build_object(
                    'number', v_pr->'number', 'github_id', v_pr->'github_id',
                    'error', v_message);
            END;
        END LOOP;
        SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}') INTO numbers
          FROM unnest(numbers) n;
    END;
END
$$;

REVOKE ALL ON FUNCTION store_page(uuid, uuid, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION store_page(uuid, uuid, jsonb) TO service_role;

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

    -- The whole page in one statement per table, or PR by PR with the refused ones recorded.
    SELECT * INTO v_stored FROM store_page(v_state.repository_id, p_chunk_id, p_pull_requests);
    v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
    v_reviews := v_stored.reviews; v_comments := v_stored.comments;
    v_numbers := v_stored.numbers; v_refused := v_stored.refused;

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after,
           error = CASE WHEN jsonb_array_length(v_refused) > 0
                        THEN format('%s PR(s) refused by the database: %s',
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
    ELSIF jsonb_array_length(v_refused) > 0 THEN
        v_note := format('%s PR(s) refused by the database (see pull_request_failures): %s',
                         jsonb_array_length(v_refused), v_refused->0->>'error');
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

CREATE OR REPLACE FUNCTION commit_sync_chunk(p_chunk_id uuid, p_claim_token bigint, p_pull_requests jsonb,
                                  p_cursor_after text, p_done boolean, p_total_prs integer)
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

    -- The whole page in one statement per table, or PR by PR with the refused ones recorded.
    SELECT * INTO v_stored FROM store_page(v_state.repository_id, p_chunk_id, p_pull_requests);
    v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
    v_reviews := v_stored.reviews; v_comments := v_stored.comments;
    v_numbers := v_stored.numbers; v_refused := v_stored.refused;

    SELECT * INTO v_deleted
      FROM replace_pull_request_children(v_state.repository_id, p_pull_requests, v_numbers);

    SELECT max((pr->>'updated_at')::timestamptz) INTO v_newest
      FROM jsonb_array_elements(p_pull_requests) pr
     WHERE (pr->>'number') ~ '^\d{1,9}$' AND (pr->>'number')::integer = ANY (v_numbers);

    UPDATE backfill_chunks
       SET status = 'completed', completed_at = now(), pr_numbers = v_numbers,
           pr_count = v_upserted, inserted_prs = v_inserted, reviews_count = v_reviews,
           comments_count = v_comments, cursor_after = p_cursor_after,
           error = CASE WHEN jsonb_array_length(v_refused) > 0
                        THEN format('%s PR(s) refused by the database: %s',
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
           error_count = 0, last_error = NULL, cooldown_until = NULL, waiting_until = NULL,
           updated_at = now()
     WHERE s.id = v_state_id
    RETURNING * INTO v_state;

    RETURN jsonb_build_object(
        'committed', true, 'inserted_prs', v_inserted, 'upserted_prs', v_upserted,
        'reviews', v_reviews, 'comments', v_comments,
        'reviews_deleted', v_deleted.reviews_deleted,
        'comments_deleted', v_deleted.comments_deleted,
        'processed_prs', v_state.processed_prs, 'total_prs', v_state.total_prs,
        'status', v_state.status, 'done', p_done, 'watermark', v_state.sync_watermark,
        'refused', v_refused);
END
$$;

NOTIFY pgrst, 'reload schema';
