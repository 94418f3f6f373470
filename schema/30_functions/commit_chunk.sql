-- Commit one fetched page in one transaction: the page stored (store_page: refused PRs
-- recorded, the rest committed), the chunk completed, the cursor and processed_prs advanced
-- by the rows newly inserted, the row of failures ended (failures_in_a_row = 0). Guarded by
-- the fencing token, a live lease and status = 'processing': a stale holder's commit changes
-- nothing and says why.
--
-- p_pull_requests is a JSON array of pull requests as core.github.models.PullRequest dumps
-- them (each with author, reviews and comments), and of refusals.
--
-- A backfill is completed only when what is stored (plus the PRs recorded as refused)
-- reaches GitHub's own count from the same answer. When GitHub's list ends short, the
-- backfill cools down and is checked again with a fresh count; after three short ends in a
-- row with nothing new, it fails with both numbers in its reason. Never 'completed' with
-- data missing.
CREATE OR REPLACE FUNCTION public.commit_chunk(p_chunk_id uuid, p_claim_token bigint, p_pull_requests jsonb, p_cursor_after text, p_has_next_page boolean, p_total_prs integer)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION commit_chunk(uuid,bigint,jsonb,text,boolean,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION commit_chunk(uuid,bigint,jsonb,text,boolean,integer) TO service_role;
