-- Claim one backfill: new ones first (never claimed), then the least recently claimed, so no
-- repository starves. SKIP LOCKED in a CTE with LIMIT: a locked row is skipped, not waited on,
-- and exactly one row is claimed. Routed: only backfills whose repository may be worked with
-- `p_installations` (routed_to); the answer says which installation the repository belongs
-- to, so the worker picks that installation's client.
CREATE OR REPLACE FUNCTION public.claim_backfill(p_worker_id text, p_lease_seconds integer DEFAULT 60, p_only uuid[] DEFAULT NULL::uuid[], p_installations bigint[] DEFAULT NULL::bigint[])
 RETURNS TABLE(backfill_state_id uuid, repository_id uuid, owner text, name text, claim_token bigint, lease_expires_at timestamp with time zone, cursor text, total_prs integer, processed_prs integer, page_size integer, installation_id bigint)
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
#variable_conflict use_column
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 THEN
        RAISE EXCEPTION 'lease must be a positive number of seconds' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH candidate AS (
        SELECT s.id
          FROM progressive_backfill_state s
          JOIN repositories r ON r.id = s.repository_id
         WHERE s.status IN ('pending', 'active')
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= now())
           AND (s.cooldown_until IS NULL OR s.cooldown_until <= now())
           AND (p_only IS NULL OR s.id = ANY (p_only))
           AND routed_to(r.installation_id, p_installations)
         ORDER BY s.last_claimed_at NULLS FIRST, s.created_at, s.id
         LIMIT 1
           FOR NO KEY UPDATE OF s SKIP LOCKED
    ), claimed AS (
        UPDATE progressive_backfill_state s
           SET claim_token = nextval('backfill_claim_token_seq'),
               leased_by = p_worker_id,
               lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               last_claimed_at = now(),
               status = 'active',
               started_at = coalesce(s.started_at, now()),
               waiting_until = NULL,
               updated_at = now()
          FROM candidate c
         WHERE s.id = c.id
        RETURNING s.*
    )
    SELECT c.id, c.repository_id, r.owner, r.name, c.claim_token, c.lease_expires_at,
           c.cursor, c.total_prs, c.processed_prs, c.page_size, r.installation_id
      FROM claimed c JOIN repositories r ON r.id = c.repository_id;
END
$function$;

REVOKE ALL ON FUNCTION claim_backfill(text,integer,uuid[],bigint[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION claim_backfill(text,integer,uuid[],bigint[]) TO service_role;
