-- A pull request that cannot be stored on its own (too large for the transport: a gateway's
-- 413 to a page of just that PR) is recorded as refused by the chunk's holder, so the chunk
-- can commit without it and the backfill's completion counts it as explained, not missing.
-- Fenced like every write: the chunk must be processing under this claim, with a live lease.
CREATE FUNCTION refuse_pull_request(p_chunk_id uuid, p_claim_token bigint, p_github_id text,
                                    p_number bigint, p_error text)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH holder AS (
        SELECT s.repository_id
          FROM backfill_chunks c
          JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
         WHERE c.id = p_chunk_id AND c.status = 'processing'
           AND c.claim_token = p_claim_token AND s.claim_token = p_claim_token
           AND s.lease_expires_at > now()
    ), refused AS (
        INSERT INTO pull_request_failures AS f (repository_id, github_id, number, chunk_id, error)
        SELECT repository_id, p_github_id, p_number, p_chunk_id, p_error FROM holder
        ON CONFLICT (repository_id, github_id) DO UPDATE
           SET number = EXCLUDED.number, chunk_id = EXCLUDED.chunk_id, error = EXCLUDED.error,
               failed_at = now()
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM refused);
$$;

REVOKE ALL ON FUNCTION refuse_pull_request(uuid, bigint, text, bigint, text)
    FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION refuse_pull_request(uuid, bigint, text, bigint, text) TO service_role;

NOTIFY pgrst, 'reload schema';
