-- Commit one sync page in one transaction, fenced like commit_chunk: the changed PRs stored
-- (new ones inserted, processed_prs counting them), their reviews, comments and labels
-- replaced with GitHub's current set, the chunk completed, the row of failures ended.
-- p_done (the walk reached the watermark minus the margin): the watermark moves to the
-- newest updatedAt the walk read (never moved by a retried PR), the repository is fresh as
-- of the walk's start, and the lease is released. Otherwise the walk's cursor moves on and
-- the watermark stays.
CREATE OR REPLACE FUNCTION public.commit_sync_chunk(p_chunk_id uuid, p_claim_token bigint, p_pull_requests jsonb, p_cursor_after text, p_done boolean, p_total_prs integer)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION commit_sync_chunk(uuid,bigint,jsonb,text,boolean,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION commit_sync_chunk(uuid,bigint,jsonb,text,boolean,integer) TO service_role;
