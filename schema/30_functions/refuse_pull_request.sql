-- A PR the transport cannot carry alone (413) is recorded as refused by the chunk's holder:
-- the same upsert as every refusal (attempts counted). Fenced like every write.
CREATE OR REPLACE FUNCTION public.refuse_pull_request(p_chunk_id uuid, p_claim_token bigint, p_github_id text, p_number bigint, p_error text)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION refuse_pull_request(uuid,bigint,text,bigint,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION refuse_pull_request(uuid,bigint,text,bigint,text) TO service_role;
