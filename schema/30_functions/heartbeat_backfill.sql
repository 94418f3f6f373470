-- Extend a live lease. NULL means the lease is gone (expired or taken over): stop writing.
CREATE OR REPLACE FUNCTION public.heartbeat_backfill(p_backfill_state_id uuid, p_claim_token bigint, p_lease_seconds integer DEFAULT 60)
 RETURNS timestamp with time zone
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    UPDATE progressive_backfill_state
       SET lease_expires_at = now() + make_interval(secs => p_lease_seconds)
     WHERE id = p_backfill_state_id
       AND claim_token = p_claim_token
       AND lease_expires_at > now()
    RETURNING lease_expires_at;
$function$;

REVOKE ALL ON FUNCTION heartbeat_backfill(uuid,bigint,integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION heartbeat_backfill(uuid,bigint,integer) TO service_role;
