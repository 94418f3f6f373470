-- Recovery's steps 1-3 (recover_stuck_chunks) without writing: one row per stuck chunk with
-- the decision a live run applies. expected = distinct PR numbers the worker recorded
-- (record_chunk_prs); stored = how many of them exist for the backfill's repository. 80% is
-- compared in integers (5 * stored >= 4 * expected), so 79.9% is never rounded up.
--
-- A chunk is stuck when it has been 'processing' past the threshold AND nobody holds it: the
-- lease of the claim that started it is no longer live. A worker that is alive and only
-- waiting on GitHub (a secondary-limit backoff can last many minutes) renews its lease, so
-- its chunk is left alone and the page it buys after the wait still commits. Once that lease
-- has expired it can never be renewed (heartbeat_backfill needs it live), so the decision
-- cannot flip back between recovery's plan and its write. recovery_plan and
-- chunk_statistics (its `stuck` count) say the same thing with the same condition.
--
-- A stuck sync chunk is treated like any other (same threshold, same live-lease rule), but
-- never as 'completed': its PRs exist from the backfill, so "stored" says nothing about
-- whether the sync's page landed. It is failed; the walk did not move, so the next sync
-- fetches the page again.
CREATE OR REPLACE FUNCTION public.recovery_plan(p_stuck_minutes integer)
 RETURNS TABLE(chunk_id uuid, backfill_state_id uuid, repository text, chunk_number integer, worker_id text, started_at timestamp with time zone, age_seconds integer, stored integer, expected integer, decision text, reason text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT c.id, c.backfill_state_id, r.owner || '/' || r.name, c.chunk_number, c.worker_id,
           c.started_at, floor(extract(epoch FROM now() - c.started_at))::integer,
           t.stored, t.expected,
           CASE WHEN c.kind = 'sync' THEN 'failed'
                WHEN t.expected > 0 AND 5 * t.stored >= 4 * t.expected
                THEN 'completed' ELSE 'failed' END,
           CASE WHEN c.kind = 'sync' THEN 'sync page not committed (the next sync fetches it)'
                WHEN t.expected = 0 THEN 'no PR data'
                WHEN 5 * t.stored >= 4 * t.expected
                THEN format('recovered %s/%s', t.stored, t.expected)
                ELSE format('partial %s/%s', t.stored, t.expected) END
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
      JOIN repositories r ON r.id = s.repository_id
      CROSS JOIN LATERAL (
            SELECT count(DISTINCT n.number)::integer AS expected,
                   count(DISTINCT p.number)::integer AS stored
              FROM unnest(coalesce(c.pr_numbers, '{}'::integer[])) AS n (number)
              LEFT JOIN pull_requests p
                ON p.repository_id = s.repository_id AND p.number = n.number
      ) t
     WHERE c.status = 'processing'
       AND c.started_at < now() - make_interval(mins => p_stuck_minutes)
       AND NOT (s.claim_token IS NOT DISTINCT FROM c.claim_token
                AND coalesce(s.lease_expires_at > now(), false))
     ORDER BY c.started_at, c.id;
$function$;

REVOKE ALL ON FUNCTION recovery_plan(integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION recovery_plan(integer) TO service_role;
