-- A chunk is stuck when it has been 'processing' past the threshold AND nobody holds it: the
-- lease of the claim that started it is no longer live. A worker that is alive and only
-- waiting on GitHub (a secondary-limit backoff can last many minutes) renews its lease, so
-- its chunk is left alone and the page it buys after the wait still commits. Once that lease
-- has expired it can never be renewed (heartbeat_backfill needs it live), so the decision
-- cannot flip back between recovery's plan and its write.
--
-- recovery_plan (what recovery, the console and `stats` list) and chunk_statistics (the
-- spec's `stuck` count) say the same thing with the same condition.

CREATE OR REPLACE FUNCTION recovery_plan(p_stuck_minutes integer)
RETURNS TABLE (chunk_id uuid, backfill_state_id uuid, repository text, chunk_number integer,
               worker_id text, started_at timestamptz, age_seconds integer, stored integer,
               expected integer, decision text, reason text)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT c.id, c.backfill_state_id, r.owner || '/' || r.name, c.chunk_number, c.worker_id,
           c.started_at, floor(extract(epoch FROM now() - c.started_at))::integer,
           t.stored, t.expected,
           CASE WHEN t.expected > 0 AND 5 * t.stored >= 4 * t.expected
                THEN 'completed' ELSE 'failed' END,
           CASE WHEN t.expected = 0 THEN 'no PR data'
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
$$;

CREATE OR REPLACE FUNCTION chunk_statistics(p_since interval DEFAULT interval '24 hours',
                                            p_backfill_state_id uuid DEFAULT NULL,
                                            p_stuck_minutes integer DEFAULT 30)
RETURNS TABLE (processing bigint, completed bigint, failed bigint, stuck bigint, total bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    SELECT count(*) FILTER (WHERE c.status = 'processing'),
           count(*) FILTER (WHERE c.status = 'completed'),
           count(*) FILTER (WHERE c.status = 'failed'),
           count(*) FILTER (WHERE c.status = 'processing'
                              AND c.started_at < now() - make_interval(mins => p_stuck_minutes)
                              AND NOT (s.claim_token IS NOT DISTINCT FROM c.claim_token
                                       AND coalesce(s.lease_expires_at > now(), false))),
           count(*)
      FROM backfill_chunks c
      JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
     WHERE c.started_at > now() - p_since
       AND (p_backfill_state_id IS NULL OR c.backfill_state_id = p_backfill_state_id);
$$;
