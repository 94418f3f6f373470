-- The storing half of commit_chunk: contributors, pull requests, reviews, comments, review
-- threads and review comments of a JSON array of pull requests. Raises on any refused value.
CREATE OR REPLACE FUNCTION public.store_pull_requests(p_repository_id uuid, p_pull_requests jsonb, OUT inserted integer, OUT upserted integer, OUT reviews integer, OUT comments integer, OUT numbers integer[])
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
                UNION ALL
                SELECT t->'resolved_by'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(nullif(pr->'review_threads', 'null'), '[]')) t
                UNION ALL
                SELECT rc->'author'
                  FROM jsonb_array_elements(p_pull_requests) pr,
                       jsonb_array_elements(coalesce(nullif(pr->'review_threads', 'null'), '[]')) t,
                       jsonb_array_elements(coalesce(t->'comments', '[]')) rc
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

    -- Review threads, then their comments (a comment points at its thread and review).
    INSERT INTO review_threads AS th (pull_request_id, github_id, path, line, original_line,
                                      start_line, original_start_line, diff_side, is_resolved,
                                      is_outdated, is_collapsed, resolved_by_id)
    SELECT DISTINCT ON (t->>'github_id')
           p.id, t->>'github_id', coalesce(t->>'path', ''), (t->>'line')::integer,
           (t->>'original_line')::integer, (t->>'start_line')::integer,
           (t->>'original_start_line')::integer, t->>'diff_side',
           coalesce((t->>'is_resolved')::boolean, false),
           coalesce((t->>'is_outdated')::boolean, false),
           coalesce((t->>'is_collapsed')::boolean, false),
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = t->'resolved_by'->>'github_id')
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(nullif(pr->'review_threads', 'null'), '[]')) t
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
     ORDER BY t->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET path = EXCLUDED.path, line = EXCLUDED.line, original_line = EXCLUDED.original_line,
           start_line = EXCLUDED.start_line, original_start_line = EXCLUDED.original_start_line,
           diff_side = EXCLUDED.diff_side, is_resolved = EXCLUDED.is_resolved,
           is_outdated = EXCLUDED.is_outdated, is_collapsed = EXCLUDED.is_collapsed,
           resolved_by_id = EXCLUDED.resolved_by_id, synced_at = now();

    INSERT INTO review_comments AS rc (pull_request_id, thread_id, github_id, database_id,
                                       review_id, in_reply_to, author_id, body, path, line,
                                       original_line, diff_hunk, created_at, updated_at, url)
    SELECT DISTINCT ON (c->>'github_id')
           p.id, th.id, c->>'github_id', (c->>'database_id')::bigint,
           (SELECT rv.id FROM reviews rv WHERE rv.github_id = c->>'review_id'),
           c->>'in_reply_to',
           (SELECT ct.id FROM contributors ct WHERE ct.github_id = c->'author'->>'github_id'),
           coalesce(c->>'body', ''), coalesce(c->>'path', t->>'path', ''),
           (c->>'line')::integer, (c->>'original_line')::integer, c->>'diff_hunk',
           (c->>'created_at')::timestamptz, (c->>'updated_at')::timestamptz, c->>'url'
      FROM jsonb_array_elements(p_pull_requests) pr
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(nullif(pr->'review_threads', 'null'), '[]')) t
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(t->'comments', '[]')) c
      JOIN pull_requests p ON p.github_id = pr->>'github_id'
      JOIN review_threads th ON th.github_id = t->>'github_id'
     ORDER BY c->>'github_id'
    ON CONFLICT (github_id) DO UPDATE
       SET thread_id = EXCLUDED.thread_id, review_id = EXCLUDED.review_id,
           in_reply_to = EXCLUDED.in_reply_to, author_id = EXCLUDED.author_id,
           body = EXCLUDED.body, path = EXCLUDED.path, line = EXCLUDED.line,
           original_line = EXCLUDED.original_line, diff_hunk = EXCLUDED.diff_hunk,
           updated_at = EXCLUDED.updated_at, url = EXCLUDED.url, synced_at = now();
END
$function$;

REVOKE ALL ON FUNCTION store_pull_requests(uuid,jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION store_pull_requests(uuid,jsonb) TO service_role;
