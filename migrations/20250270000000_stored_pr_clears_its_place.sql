-- A null edge is refused as one PR keyed by its place (`cursor:<cursor before it>+k`, the
-- k-th PR after that cursor). When that page is fetched again (after a 502, or retried) and
-- the place now holds a real PR that is stored, the place's failure stayed beside it: one PR
-- counted twice (stored and refused). Each PR of a page now carries its place
-- (`position_key`, keyed as a null edge there would be); storing it clears the failure
-- keyed by that place, as a retry by position (`retry_of`) already cleared its own.
CREATE OR REPLACE FUNCTION store_page(p_repository_id uuid, p_chunk_id uuid, p_pull_requests jsonb, OUT inserted integer, OUT upserted integer, OUT reviews integer, OUT comments integer, OUT numbers integer[], OUT refused jsonb)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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

    -- A refused PR asked for again and stored now: the failure it was asked for is cleared;
    -- so is a null edge refused at the place a PR stored now holds in its page (the page
    -- fetched again, e.g. after a 502). store_pull_requests clears the failures keyed by
    -- the ids it stored.
    DELETE FROM pull_request_failures f
     USING jsonb_array_elements(v_data) e
     WHERE f.repository_id = p_repository_id
       AND f.github_id IN (SELECT pull_request_failure_key(k.key)
                             FROM (VALUES (e->>'retry_of'), (e->>'position_key')) k (key)
                            WHERE k.key IS NOT NULL)
       AND EXISTS (SELECT 1 FROM pull_requests p
                    WHERE p.github_id = e->>'github_id' AND p.repository_id = p_repository_id)
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(refused) r
                        WHERE r->>'github_id' = e->>'github_id');
END
$function$;
