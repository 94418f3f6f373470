-- Outstanding work, optionally for some backfills only: `claimable` can be claimed now,
-- `leased` is held by a live worker, `cooling` waits out an error cooldown. Only the work
-- `p_installations` may do counts: a worker run with --until-idle ends when none is left for
-- it, not when the backfills of an installation it has no credential for are done.
CREATE OR REPLACE FUNCTION public.backfill_work_summary(p_only uuid[] DEFAULT NULL::uuid[], p_installations bigint[] DEFAULT NULL::bigint[])
 RETURNS TABLE(claimable bigint, leased bigint, cooling bigint, paused bigint, completed bigint, failed bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND NOT coalesce(s.cooldown_until > now(), false)),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND s.lease_expires_at > now()),
        count(*) FILTER (WHERE s.status IN ('pending', 'active')
                           AND NOT coalesce(s.lease_expires_at > now(), false)
                           AND s.cooldown_until > now()),
        count(*) FILTER (WHERE s.status = 'paused'),
        count(*) FILTER (WHERE s.status = 'completed'),
        count(*) FILTER (WHERE s.status = 'failed')
      FROM progressive_backfill_state s
      JOIN repositories r ON r.id = s.repository_id
     WHERE (p_only IS NULL OR s.id = ANY (p_only))
       AND routed_to(r.installation_id, p_installations);
$function$;

REVOKE ALL ON FUNCTION backfill_work_summary(uuid[],bigint[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_work_summary(uuid[],bigint[]) TO service_role;
