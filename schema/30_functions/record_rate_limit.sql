-- The latest budget a token has seen, and whose budget it is: the credential's display name
-- and its installation (never a token). Every process publishes its server-time figures with
-- it (`server_time`, keyed by process id, stamped with the database clock); the answer is the
-- other processes' entries with their age (seconds, database clock), so workers in other
-- processes on the same token pace against the token's total.
CREATE OR REPLACE FUNCTION public.record_rate_limit(p_token_fingerprint text, p_remaining integer, p_limit integer, p_used integer, p_reset_at timestamp with time zone, p_last_cost integer DEFAULT NULL::integer, p_average_cost_per_query double precision DEFAULT NULL::double precision, p_queries integer DEFAULT 0, p_process text DEFAULT NULL::text, p_server_time jsonb DEFAULT NULL::jsonb, p_credential text DEFAULT NULL::text, p_installation_id bigint DEFAULT NULL::bigint)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    v_now double precision := extract(epoch FROM now());
    v_entry jsonb := '{}'::jsonb;
    v_map jsonb;
BEGIN
    IF p_process IS NOT NULL AND jsonb_typeof(p_server_time) = 'object' THEN
        v_entry := jsonb_build_object(p_process, p_server_time || jsonb_build_object('at', v_now));
    END IF;
    INSERT INTO github_rate_limits AS g (token_fingerprint, remaining, "limit", used, reset_at,
                                         last_cost, average_cost_per_query, queries, server_time,
                                         credential, installation_id)
    VALUES (p_token_fingerprint, p_remaining, p_limit, p_used, p_reset_at, p_last_cost,
            p_average_cost_per_query, p_queries, v_entry, left(p_credential, 200),
            p_installation_id)
    ON CONFLICT (token_fingerprint) DO UPDATE
       SET remaining = EXCLUDED.remaining, "limit" = EXCLUDED."limit", used = EXCLUDED.used,
           reset_at = EXCLUDED.reset_at, last_cost = EXCLUDED.last_cost,
           average_cost_per_query = EXCLUDED.average_cost_per_query,
           queries = EXCLUDED.queries, observed_at = now(),
           credential = coalesce(EXCLUDED.credential, g.credential),
           installation_id = coalesce(EXCLUDED.installation_id, g.installation_id),
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
$function$;

REVOKE ALL ON FUNCTION record_rate_limit(text,integer,integer,integer,timestamp with time zone,integer,double precision,integer,text,jsonb,text,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION record_rate_limit(text,integer,integer,integer,timestamp with time zone,integer,double precision,integer,text,jsonb,text,bigint) TO service_role;
