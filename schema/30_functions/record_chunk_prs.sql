-- After the fetch, before the commit: which PRs this chunk carries, so recovery can check
-- whether they were stored if the worker dies here.
CREATE OR REPLACE FUNCTION public.record_chunk_prs(p_chunk_id uuid, p_claim_token bigint, p_pr_numbers integer[])
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH noted AS (
        UPDATE backfill_chunks
           SET pr_numbers = p_pr_numbers, pr_count = cardinality(p_pr_numbers)
         WHERE id = p_chunk_id AND claim_token = p_claim_token AND status = 'processing'
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM noted);
$function$;

REVOKE ALL ON FUNCTION record_chunk_prs(uuid,bigint,integer[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION record_chunk_prs(uuid,bigint,integer[]) TO service_role;
