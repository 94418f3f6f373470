-- One bad item never sinks a page: the smallest unit that is bad is the one refused.
--
-- 1. A PR GitHub sent wrong, short, forbidden or missing (decided by the client's pager) is
--    recorded in the same transaction as the rest of its page: the page's JSON array holds it
--    as a refusal, `{"refused": reason, "github_id": key, "number": n, ...}`, beside the PRs
--    to store. store_page records both kinds of refusal (GitHub's, the database's) in one
--    place, so the chunk's error, the backfill's last_error and the completion check count
--    them alike.
-- 2. Each failure counts its attempts and is asked for again alone, a bounded number of
--    times (pull_requests_to_retry: 3 retries, 1, 4 and 16 minutes after each refusal), by
--    its node id, else its number, else its position (`position_cursor`, the cursor right
--    before it in `position_order`: a PR GitHub sent as a null node has nothing else). A PR
--    stored clears its failure, and a retried PR (`retry_of`) the failure it was asked for.
-- 3. A value past what an index can hold (a hostile, overlong id) refuses its PR alone, as
--    any other value the database refuses; a failure's key is bounded to what its own index
--    holds.
-- 4. GitHub adds enum values without notice: pull_requests.state stores what GitHub sends
--    (the client reports values it has not seen). No other CHECK lists GitHub's values.
-- 5. A sync's watermark is moved only by the PRs its walk read, never by a retried one.
-- 6. Progress reads (stats, the console) carry each repository's refused PRs: refused_prs.

ALTER TABLE pull_requests DROP CONSTRAINT IF EXISTS pull_requests_state_check;

ALTER TABLE pull_request_failures
    ADD COLUMN attempts integer NOT NULL DEFAULT 1 CHECK (attempts > 0),
    ADD COLUMN position_cursor text,
    ADD COLUMN position_order text;

-- What a failure is keyed by: the PR's id, bounded to what the primary key's index holds.
CREATE FUNCTION pull_request_failure_key(p_github_id text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN p_github_id IS NULL OR p_github_id = '' THEN '(no id)'
                WHEN length(p_github_id) <= 255 THEN p_github_id
                ELSE left(p_github_id, 200) || '... (md5 ' || md5(p_github_id) || ')' END;
$$;

-- The one upsert of a refused PR: a refusal again counts one more attempt.
CREATE FUNCTION record_pull_request_failure(p_repository_id uuid, p_chunk_id uuid,
                                            p_github_id text, p_number bigint, p_error text,
                                            p_position_cursor text DEFAULT NULL,
                                            p_position_order text DEFAULT NULL)
RETURNS void
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    INSERT INTO pull_request_failures AS f
           (repository_id, github_id, number, chunk_id, error, position_cursor, position_order)
    VALUES (p_repository_id, pull_request_failure_key(p_github_id), p_number, p_chunk_id,
            left(coalesce(p_error, 'refused'), 2000), p_position_cursor, p_position_order)
    ON CONFLICT (repository_id, github_id) DO UPDATE
       SET number = coalesce(EXCLUDED.number, f.number), chunk_id = EXCLUDED.chunk_id,
           error = EXCLUDED.error, failed_at = now(), attempts = f.attempts + 1,
           position_cursor = coalesce(EXCLUDED.position_cursor, f.position_cursor),
           position_order = coalesce(EXCLUDED.position_order, f.position_order);
$$;

CREATE OR REPLACE FUNCTION store_page(p_repository_id uuid, p_chunk_id uuid,
                                      p_pull_requests jsonb,
                                      OUT inserted integer, OUT upserted integer,
                                      OUT reviews integer, OUT comments integer,
                                      OUT numbers integer[], OUT refused jsonb)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_one record;
    v_pr jsonb;
    v_data jsonb;
    v_message text;
BEGIN
    inserted := 0; upserted := 0; reviews := 0; comments := 0; numbers := '{}'; refused := '[]';

    -- PRs GitHub sent wrong, short, forbidden or missing: recorded first (one stored below
    -- after all, e.g. twice in the page, clears its failure again).
    FOR v_pr IN SELECT e FROM jsonb_array_elements(p_pull_requests) e WHERE e ? 'refused' LOOP
        PERFORM record_pull_request_failure(
            p_repository_id, p_chunk_id, v_pr->>'github_id',
            CASE WHEN v_pr->>'number' ~ '^\d{1,18}$' THEN (v_pr->>'number')::bigint END,
            v_pr->>'refused', v_pr->>'position_cursor', v_pr->>'position_order');
        refused := refused || jsonb_build_object(
            'number', v_pr->'number', 'github_id', v_pr->'github_id', 'error', v_pr->'refused');
    END LOOP;
    SELECT coalesce(jsonb_agg(e ORDER BY o), '[]') INTO v_data
      FROM jsonb_array_elements(p_pull_requests) WITH ORDINALITY AS x (e, o)
     WHERE NOT e ? 'refused';

    BEGIN  -- the whole page at once: the common case, one statement per table
        SELECT s.inserted, s.upserted, s.reviews, s.comments, s.numbers
          INTO inserted, upserted, reviews, comments, numbers
          FROM store_pull_requests(p_repository_id, v_data) s;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR cardinality_violation OR program_limit_exceeded THEN
        -- Some PR's data is refused: store the page PR by PR and record the refused ones.
        FOR v_pr IN SELECT e FROM jsonb_array_elements(v_data) e LOOP
            BEGIN
                SELECT * INTO v_one
                  FROM store_pull_requests(p_repository_id, jsonb_build_array(v_pr));
                inserted := inserted + v_one.inserted;
                upserted := upserted + v_one.upserted;
                reviews := reviews + v_one.reviews;
                comments := comments + v_one.comments;
                numbers := numbers || v_one.numbers;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation
                           OR cardinality_violation OR program_limit_exceeded THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                v_message := 'the database refused it: ' || v_message;
                PERFORM record_pull_request_failure(
                    p_repository_id, p_chunk_id,
                    coalesce(v_pr->>'retry_of', v_pr->>'github_id',
                             format('(no id, #%s)', v_pr->>'number')),
                    CASE WHEN v_pr->>'number' ~ '^\d{1,18}$'
                         THEN (v_pr->>'number')::bigint END,
                    v_message);
                refused := refused || jsonb_build_object(
                    'number', v_pr->'number', 'github_id', v_pr->'github_id',
                    'error', v_message);
            END;
        END LOOP;
        SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}') INTO numbers
          FROM unnest(numbers) n;
    END;

    -- A refused PR asked for again and stored now: the failure it was asked for is cleared
    -- (store_pull_requests clears the failures keyed by the ids it stored).
    DELETE FROM pull_request_failures f
     USING jsonb_array_elements(v_data) e
     WHERE f.repository_id = p_repository_id
       AND f.github_id = pull_request_failure_key(e->>'retry_of')
       AND e->>'retry_of' IS NOT NULL
       AND EXISTS (SELECT 1 FROM pull_requests p
                    WHERE p.github_id = e->>'github_id' AND p.repository_id = p_repository_id)
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(refused) r
                        WHERE r->>'github_id' = e->>'github_id');
END
$$;

-- The last word on refused PRs for a backfill's last_error: this page's, else how many the
-- repository has (NULL when none).
CREATE FUNCTION refused_note(p_repository_id uuid, p_refused jsonb)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = public, pg_temp
AS $$
    SELECT CASE
        WHEN jsonb_array_length(p_refused) > 0 THEN
            format('%s PR(s) refused on this page (see pull_request_failures): %s',
                   jsonb_array_length(p_refused), p_refused->0->>'error')
        ELSE (SELECT format('%s PR(s) refused (see pull_request_failures): %s', count(*),
                            (array_agg(f.error ORDER BY f.failed_at DESC))[1])
                FROM pull_request_failures f
               WHERE f.repository_id = p_repository_id
              HAVING count(*) > 0)
    END;
$$;

-- A PR the transport cannot carry alone (413) is recorded as refused by the chunk's holder:
-- the same upsert as every refusal (attempts counted). Fenced like every write.
CREATE OR REPLACE FUNCTION refuse_pull_request(p_chunk_id uuid, p_claim_token bigint,
                                               p_github_id text, p_number bigint, p_error text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_repository_id uuid;
BEGIN
    SELECT s.repository_id INTO v_repository_id
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
     WHERE c.id = p_chunk_id AND c.status = 'processing'
       AND c.claim_token = p_claim_token AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now();
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM record_pull_request_failure(v_repository_id, p_chunk_id, p_github_id, p_number,
                                        p_error);
    RETURN true;
END
$$;

-- Refused PRs of the leased repository due to be asked for again alone: refused at most 3
-- times before (3 retries), the last time 1, 4 or 16 minutes ago (after the 1st, 2nd, 3rd
-- refusal), oldest first. Fenced by the lease: only its holder asks.
CREATE FUNCTION pull_requests_to_retry(p_backfill_state_id uuid, p_claim_token bigint,
                                       p_limit integer DEFAULT 10)
RETURNS TABLE (github_id text, node_id text, number bigint, position_cursor text,
               position_order text, attempts integer)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT f.github_id,
           CASE WHEN f.github_id LIKE 'cursor:%' OR f.github_id LIKE '(no id%'
                     OR f.github_id LIKE '%... (md5 %' THEN NULL
                ELSE f.github_id END,
           f.number, f.position_cursor, f.position_order, f.attempts
      FROM progressive_backfill_state s
      JOIN pull_request_failures f ON f.repository_id = s.repository_id
     WHERE s.id = p_backfill_state_id AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
       AND f.attempts <= 3
       AND f.failed_at <= now() - make_interval(secs => 60 * 4 ^ (f.attempts - 1))
     ORDER BY f.failed_at, f.github_id
     LIMIT greatest(p_limit, 0);
$$;

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
           error_count = 0, last_error = v_note, cooldown_until = NULL, waiting_until = NULL,
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
        'refused', v_refused, 'note', v_note);
END
$$;

-- The progress rows as one value (stats and the console read it), each with how many of
-- its repository's PRs are refused (recorded in pull_request_failures): the spec's
-- backfill_progress() keeps its columns.
CREATE OR REPLACE FUNCTION backfill_progress_snapshot(
    p_rate_window interval DEFAULT interval '15 minutes')
RETURNS jsonb
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(p) || jsonb_build_object(
               'refused_prs', (SELECT count(*) FROM pull_request_failures f
                                WHERE f.repository_id = p.repository_id))
               ORDER BY p.created_at, p.repository), '[]'::jsonb)
      FROM backfill_progress(p_rate_window) p;
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'pull_request_failure_key(text)'::regprocedure,
        'record_pull_request_failure(uuid, uuid, text, bigint, text, text, text)'::regprocedure,
        'refused_note(uuid, jsonb)'::regprocedure,
        'pull_requests_to_retry(uuid, bigint, integer)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
