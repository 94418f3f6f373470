-- One PR's reviews, comments, review threads and review comments become exactly GitHub's
-- current set: the ones a page no longer lists for a PR it carries are deleted (a deleted
-- comment disappears). Only for PRs of p_repository_id whose numbers are in p_numbers (the
-- ones stored by this commit); threads only for PRs whose page carries `review_threads`.
CREATE OR REPLACE FUNCTION public.replace_pull_request_children(p_repository_id uuid, p_pull_requests jsonb, p_numbers integer[], OUT reviews_deleted integer, OUT comments_deleted integer)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    WITH page AS (
        SELECT p.id, coalesce(pr->'reviews', '[]') AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers)
    )
    DELETE FROM reviews rv
     USING page
     WHERE rv.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) r
                        WHERE r->>'github_id' = rv.github_id);
    GET DIAGNOSTICS reviews_deleted = ROW_COUNT;

    WITH page AS (
        SELECT p.id, coalesce(pr->'comments', '[]') AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers)
    )
    DELETE FROM comments cm
     USING page
     WHERE cm.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) c
                        WHERE c->>'github_id' = cm.github_id);
    GET DIAGNOSTICS comments_deleted = ROW_COUNT;

    -- Review threads and review comments likewise, for the PRs whose page carries them (a
    -- page without the key says nothing about them). A thread's comments go with it.
    WITH page AS (
        SELECT p.id, pr->'review_threads' AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers) AND jsonb_typeof(pr->'review_threads') = 'array'
    )
    DELETE FROM review_threads th
     USING page
     WHERE th.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) t
                        WHERE t->>'github_id' = th.github_id);

    WITH page AS (
        SELECT p.id, pr->'review_threads' AS items
          FROM jsonb_array_elements(p_pull_requests) pr
          JOIN pull_requests p
            ON p.github_id = pr->>'github_id' AND p.repository_id = p_repository_id
         WHERE p.number = ANY (p_numbers) AND jsonb_typeof(pr->'review_threads') = 'array'
    )
    DELETE FROM review_comments rc
     USING page
     WHERE rc.pull_request_id = page.id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(page.items) t,
                                     jsonb_array_elements(coalesce(t->'comments', '[]')) c
                        WHERE c->>'github_id' = rc.github_id);
END
$function$;

REVOKE ALL ON FUNCTION replace_pull_request_children(uuid,jsonb,integer[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION replace_pull_request_children(uuid,jsonb,integer[]) TO service_role;
