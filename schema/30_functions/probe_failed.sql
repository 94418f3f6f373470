-- A repository GitHub would not answer for in a probe (gone, forbidden): fenced, its lease
-- let go, resting p_cooldown_seconds with GitHub's words in last_error, so a round does not
-- ask for it again at once and the others are not held up. Answers whether it was settled.
CREATE OR REPLACE FUNCTION public.probe_failed(p_backfill_state_id uuid, p_claim_token bigint, p_error text, p_cooldown_seconds integer DEFAULT 600)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    UPDATE progressive_backfill_state s
       SET last_error = left(p_error, 2000),
           cooldown_until = now() + make_interval(secs => greatest(p_cooldown_seconds, 0)),
           probed_at = now(),
           leased_by = NULL,
           lease_expires_at = NULL,
           updated_at = now()
     WHERE s.id = p_backfill_state_id AND s.claim_token = p_claim_token
       AND s.lease_expires_at > now()
    RETURNING true;
$function$;

REVOKE ALL ON FUNCTION probe_failed(uuid,bigint,text,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION probe_failed(uuid,bigint,text,integer) TO service_role;
