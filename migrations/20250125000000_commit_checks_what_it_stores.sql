-- commit_chunk stores what it can and says what it could not (issue 14, "no silent loss").
--
-- 1. One pull request the database refuses (a value out of range, a broken constraint, two
--    PRs claiming one number) no longer sinks its page: the page is tried whole first, and
--    only when that fails with a data error is it stored PR by PR, each in its own
--    subtransaction. Refused PRs are recorded in pull_request_failures with the database's
--    own message, and the rest of the page commits with the cursor. A PR stored later (a
--    retry, a sync) clears its failure.
-- 2. The same review, comment or PR id twice in one page (GitHub's follow-up pages overlap)
--    is stored once instead of failing the statement.
-- 3. A backfill is completed only when what is stored (plus the PRs recorded as refused)
--    reaches GitHub's own count from the same answer. When GitHub's list ends short, the
--    backfill cools down and is checked again with a fresh count; after three short ends in a
--    row with nothing new, it fails with both numbers in its reason. Never 'completed' with
--    data missing.

CREATE TABLE pull_request_failures (
    repository_id  uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    github_id      text NOT NULL,
    number         bigint,
    chunk_id       uuid REFERENCES backfill_chunks (id) ON DELETE SET NULL,
    error          text NOT NULL,
    failed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, github_id)
);
ALTER TABLE pull_request_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON pull_request_failures FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE pull_request_failures FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE pull_request_failures TO service_role;

-- The storing half of commit_chunk: contributors, pull requests, reviews and comments of a
-- JSON array of pull requests, in one statement each. Raises on any refused value.
CREATE FUNCTION store_pull_requests(p_repository_id uuid, p_pull_requests jsonb,
                                    OUT inserted integer, OUT upserted integer,
                                    OUT reviews integer, OUT comments integer,
                                    OUT numbers integer[])
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
BEGIN
    -- Contributors first (pull requests, reviews and comments point at them). Sorted so two
    -- commits sharing authors lock them in the same order and cannot deadlock.
    WITH actors AS (
        SELECT DISTINCT ON (a->>'github_id') a
          FROM (
                SELECT pr->'author' AS a FROM jsonb_array_elements(p_pull_requests) pr
                UNION ALL
                SELECT r->'author'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(pr->'reviews', '[]')) r
                UNION ALL
                SELECT c->'author'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(pr->'comments', '[]')) c
               ) all_actors
         WHERE jsonb_typeof(a) = 'object'
         ORDER BY a->>'github_id'
    )
    INSERT INTO contributors AS ct (github_id, login, type, database_id, avatar_url)
    SELECT a->>'github_id', a->>'login', coalesce(a->>'type', 'User'),
           (a->>'database_id')::bigint, a->>'avatar_url'
      FROM actors
     ORDER BY a->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET login = EXCLUDED.login, type = EXCLUDED.type,
           database_id = coalesce(EXCLUDED.database_id, ct.database_id),
           avatar_url = coalesce(EXCLUDED.avatar_url, ct.avatar_url), updated_at = now()
     WHERE (ct.login, ct.type) IS DISTINCT FROM (EXCLUDED.login, EXCLUDED.type);

    WITH page AS (  -- the last copy of a PR the page repeats
        SELECT DISTINCT ON (pr->>'github_id') pr
          FROM jsonb_array_elements(p_pull_requests) WITH ORDINALITY AS e (pr, ord)
         ORDER BY pr->>'github_id', ord DESC
    ), upserted AS (
        INSERT INTO pull_requests AS p (
            repository_id, github_id, database_id, number, title, body, state, is_draft,
            merged, created_at, updated_at, closed_at, merged_at, additions, deletions,
            changed_files, base_ref_name, head_ref_name, url, author_id, commits_count, labels)
        SELECT p_repository_id, pr->>'github_id', (pr->>'database_id')::bigint,
               (pr->>'number')::integer, pr->>'title', coalesce(pr->>'body', ''),
               pr->>'state', coalesce((pr->>'is_draft')::boolean, false),
               coalesce((pr->>'merged')::boolean, false),
               (pr->>'created_at')::timestamptz, (pr->>'updated_at')::timestamptz,
               (pr->>'closed_at')::timestamptz, (pr->>'merged_at')::timestamptz,
               coalesce((pr->>'additions')::integer, 0), coalesce((pr->>'deletions')::integer, 0),
               coalesce((pr->>'changed_files')::integer, 0),
               coalesce(pr->>'base_ref_name', ''), coalesce(pr->>'head_ref_name', ''),
               coalesce(pr->>'url', ''),
               (SELECT ct.id FROM contributors ct WHERE ct.github_id = pr->'author'->>'github_id'),
               coalesce((pr->>'commits_count')::integer, 0),
               ARRAY(SELECT jsonb_array_elements_text(coalesce(pr->'labels', '[]')))
          FROM page
         ORDER BY (pr->>'number')::integer
        ON CONFLICT (github_id) DO UPDATE
           SET title = EXCLUDED.title, body = EXCLUDED.body, state = EXCLUDED.state,
               is_draft = EXCLUDED.is_draft, merged = EXCLUDED.merged,
               updated_at = EXCLUDED.updated_at, closed_at = EXCLUDED.closed_at,
               merged_at = EXCLUDED.merged_at, additions = EXCLUDED.additions,
               deletions = EXCLUDED.deletions, changed_files = EXCLUDED.changed_files,
               base_ref_name = EXCLUDED.base_ref_name, head_ref_name = EXCLUDED.head_ref_name,
               url = EXCLUDED.url, author_id = EXCLUDED.author_id,
               commits_count = EXCLUDED.commits_count, labels = EXCLUDED.labels,
               synced_at = now()
        RETURNING (xmax = 0) AS inserted, number, github_id
    ), cleared AS (  -- stored now: no longer a failure
        DELETE FROM pull_request_failures f
         WHERE f.repository_id = p_repository_id
           AND f.github_id IN (SELECT u.github_id FROM upserted u)
    )
    SELECT count(*) FILTER (WHERE u.inserted), count(*),
           coalesce(array_agg(u.number ORDER BY u.number), '{}')
      INTO inserted, upserted, numbers
      FROM upserted u;

    INSERT INTO reviews AS rv (pull_request_id, github_id, database_id, author_id, state, body,
                               submitted_at, created_at, url)
    SELECT DISTINCT ON (r->>'github_id')
           p.id, r->>'github_id', (r->>'database_id')::bigint,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = r->'author'->>'github_id'),
           r->>'state', coalesce(r->>'body', ''), (r->>'submitted_at')::timestamptz,
           (r->>'created_at')::timestamptz, r->>'url'
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(pr->'reviews', '[]')) r
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
     ORDER BY r->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET state = EXCLUDED.state, body = EXCLUDED.body, submitted_at = EXCLUDED.submitted_at,
           author_id = EXCLUDED.author_id, url = EXCLUDED.url, synced_at = now();
    GET DIAGNOSTICS reviews = ROW_COUNT;

    INSERT INTO comments AS cm (pull_request_id, github_id, database_id, author_id, body,
                                created_at, updated_at, url)
    SELECT DISTINCT ON (c->>'github_id')
           p.id, c->>'github_id', (c->>'database_id')::bigint,
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = c->'author'->>'github_id'),
           coalesce(c->>'body', ''), (c->>'created_at')::timestamptz,
           (c->>'updated_at')::timestamptz, c->>'url'
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(pr->'comments', '[]')) c
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
     ORDER BY c->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at,
           author_id = EXCLUDED.author_id, url = EXCLUDED.url, synced_at = now();
    GET DIAGNOSTICS comments = ROW_COUNT;
END
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
    v_one record;
    v_pr jsonb;
    v_message text;
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

    BEGIN  -- the whole page at once: the common case, one statement per table
        SELECT * INTO v_stored FROM store_pull_requests(v_state.repository_id, p_pull_requests);
        v_inserted := v_stored.inserted; v_upserted := v_stored.upserted;
        v_reviews := v_stored.reviews; v_comments := v_stored.comments;
        v_numbers := v_stored.numbers;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation
                   OR cardinality_violation THEN
        -- Some PR's data is refused: store the page PR by PR and record the refused ones.
        FOR v_pr IN SELECT e FROM jsonb_array_elements(p_pull_requests) e LOOP
            BEGIN
                SELECT * INTO v_one
                  FROM store_pull_requests(v_state.repository_id, jsonb_build_array(v_pr));
                v_inserted := v_inserted + v_one.inserted;
                v_upserted := v_upserted + v_one.upserted;
                v_reviews := v_reviews + v_one.reviews;
                v_comments := v_comments + v_one.comments;
                v_numbers := v_numbers || v_one.numbers;
            EXCEPTION WHEN data_exception OR integrity_constraint_violation
                           OR cardinality_violation THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                INSERT INTO pull_request_failures AS f
                       (repository_id, github_id, number, chunk_id, error)
                VALUES (v_state.repository_id,
                        coalesce(v_pr->>'github_id', format('(no id, #%s)', v_pr->>'number')),
                        CASE WHEN v_pr->>'number' ~ '^\d{1,18}$'
                             THEN (v_pr->>'number')::bigint END,
                        p_chunk_id, v_message)
                ON CONFLICT (repository_id, github_id) DO UPDATE
                   SET number = EXCLUDED.number, chunk_id = EXCLUDED.chunk_id,
                       error = EXCLUDED.error, failed_at = now();
                v_refused := v_refused || jsonb_build_object(
                    'number', v_pr->'number', 'github_id', v_pr->'github_id',
                    'error', v_message);
            END;
        END LOOP;
        SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}') INTO v_numbers
          FROM unnest(v_numbers) n;
    END;

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

REVOKE ALL ON FUNCTION store_pull_requests(uuid, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION store_pull_requests(uuid, jsonb) TO service_role;

NOTIFY pgrst, 'reload schema';
