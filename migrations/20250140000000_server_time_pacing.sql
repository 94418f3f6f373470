-- Pacing by GitHub's server time (issue 16).
--
-- 1. Every process publishes its server-time figures with the budget snapshot of its token:
--    `github_rate_limits.server_time` maps a process id to its latest figures (response time
--    used in its pacing window, the budget, answers over target, 502/504 and secondary-limit
--    answers and PRs in the last hour) stamped with the database clock. `record_rate_limit`
--    now returns the other processes' entries with their age (seconds, database clock), so
--    workers in other processes on the same token pace against the token's total.
-- 2. The page size a backfill settled on is remembered on it (`page_size`, read by
--    `claim_backfill` already), written under the lease's fencing token.

ALTER TABLE github_rate_limits ADD COLUMN IF NOT EXISTS server_time jsonb NOT NULL
    DEFAULT '{}'::jsonb;

DROP FUNCTION IF EXISTS record_rate_limit(text, integer, integer, integer, timestamptz, integer,
                                          double precision, integer);

CREATE OR REPLACE FUNCTION record_rate_limit(p_token_fingerprint text, p_remaining integer,
                                             p_limit integer, p_used integer,
                                             p_reset_at timestamptz,
                                             p_last_cost integer DEFAULT NULL,
                                             p_average_cost_per_query double precision DEFAULT NULL,
                                             p_queries integer DEFAULT 0,
                                             p_process text DEFAULT NULL,
                                             p_server_time jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_now double precision := extract(epoch FROM now());
    v_entry jsonb := '{}'::jsonb;
    v_map jsonb;
BEGIN
    IF p_process IS NOT NULL AND jsonb_typeof(p_server_time) = 'object' THEN
        v_entry := jsonb_build_object(p_process, p_server_time || jsonb_build_object('at', v_now));
    END IF;
    INSERT INTO github_rate_limits AS g (token_fingerprint, remaining, "limit", used, reset_at,
                                         last_cost, average_cost_per_query, queries, server_time)
    VALUES (p_token_fingerprint, p_remaining, p_limit, p_used, p_reset_at, p_last_cost,
            p_average_cost_per_query, p_queries, v_entry)
    ON CONFLICT (token_fingerprint) DO UPDATE
       SET remaining = EXCLUDED.remaining, "limit" = EXCLUDED."limit", used = EXCLUDED.used,
           reset_at = EXCLUDED.reset_at, last_cost = EXCLUDED.last_cost,
           average_cost_per_query = EXCLUDED.average_cost_per_query,
           queries = EXCLUDED.queries, observed_at = now(),
           -- keep entries reported within the last hour, then this process's latest
           server_time = coalesce((SELECT jsonb_object_agg(e.key, e.value)
                                     FROM jsonb_each(g.server_time) e
                                    WHERE (e.value ->> 'at')::double precision > v_now - 3600),
                                  '{}'::jsonb) || EXCLUDED.server_time
    RETURNING g.server_time INTO v_map;
    RETURN coalesce((SELECT jsonb_object_agg(e.key, e.value || jsonb_build_object(
                                 'age', v_now - (e.value ->> 'at')::double precision))
                       FROM jsonb_each(v_map) e
                      WHERE p_process IS NULL OR e.key <> p_process), '{}'::jsonb);
END;
$$;

CREATE OR REPLACE FUNCTION remember_page_size(p_backfill_state_id uuid, p_claim_token bigint,
                                              p_page_size integer)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH updated AS (
        UPDATE progressive_backfill_state
           SET page_size = greatest(1, least(100, p_page_size))
         WHERE id = p_backfill_state_id AND claim_token = p_claim_token
           AND lease_expires_at > now()
           AND page_size IS DISTINCT FROM greatest(1, least(100, p_page_size))
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM updated);
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'record_rate_limit(text, integer, integer, integer, timestamptz, integer, double precision, integer, text, jsonb)'::regprocedure,
        'remember_page_size(uuid, bigint, integer)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
