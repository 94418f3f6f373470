-- A shared ledger of GitHub server time per token (issue 16): reserve before sending.
--
-- Publishing each process's figures after the fact (20250140000000, `record_rate_limit`'s
-- `server_time`) let two processes on one token pass the budget together: each paced
-- against the other's figure as last published (up to a publish interval old, without the
-- requests it had started since), so both could admit their next request in the same
-- instant. Measured: 58.9 s of GitHub server time in one minute against a 54 s budget.
--
-- Now every request of every process takes its room in this table, atomically, before it is
-- sent: `reserve_server_time` grants a reservation only if the token's server time started
-- within the pacing window (settled requests at their measured time, requests in flight at
-- the larger of their estimate and their elapsed time, capped at GitHub's kill) plus this
-- estimate stays within the budget, and otherwise says how long to wait. Reservations of one
-- token are serialised by a transaction-scoped advisory lock, so "the sum of admitted and
-- in-flight server time within the window <= budget" holds by construction, whatever the
-- number of processes. `settle_server_time` replaces the estimate by the measured time when
-- the answer is in. The window is judged on the database's clock (one clock for everyone).
-- A process killed mid-request leaves its reservation unsettled: it counts at most GitHub's
-- kill time and leaves the window like any other. Reservations are kept for an hour (sixty
-- windows: a time-scaled run scales it) so the rule can be checked afterwards.

CREATE TABLE IF NOT EXISTS github_server_time (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_fingerprint text NOT NULL,
    process           text NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    estimate          double precision NOT NULL,  -- what it was admitted on
    seconds           double precision NOT NULL,  -- the estimate, then the measured time
    settled           boolean NOT NULL DEFAULT false,
    settled_at        timestamptz
);
CREATE INDEX IF NOT EXISTS github_server_time_token_started
    ON github_server_time (token_fingerprint, started_at);

ALTER TABLE github_server_time ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON github_server_time FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE github_server_time FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE github_server_time TO service_role;

-- Returns {"id": reservation or null, "retry_after": seconds to wait before asking again
-- (0 when granted), "used": the token's server time in the window, this request included
-- when granted}. Seconds throughout, on the caller's (possibly time-scaled) scale.
CREATE OR REPLACE FUNCTION reserve_server_time(p_token_fingerprint text, p_process text,
                                               p_seconds double precision,
                                               p_window double precision,
                                               p_budget double precision,
                                               p_kill double precision)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_now timestamptz;
    v_from timestamptz;
    v_used double precision;
    v_flying integer;
    v_freed double precision := 0;
    v_wait double precision;
    v_id bigint;
    r record;
BEGIN
    IF p_seconds IS NULL OR p_seconds < 0 OR NOT p_window > 0 OR NOT p_budget > 0
       OR NOT p_kill > 0 THEN
        RAISE EXCEPTION 'reserve_server_time: seconds >= 0, window, budget and kill > 0'
            USING ERRCODE = '22023';
    END IF;
    -- One token's reservations one at a time (two at once could both see room for one).
    PERFORM pg_advisory_xact_lock(hashtextextended('github_server_time:' || p_token_fingerprint,
                                                   0));
    v_now := clock_timestamp();
    v_from := v_now - make_interval(secs => p_window);
    DELETE FROM github_server_time
     WHERE token_fingerprint = p_token_fingerprint
       AND started_at <= v_now - make_interval(secs => 60 * p_window);
    SELECT coalesce(sum(CASE WHEN settled THEN seconds
                             ELSE greatest(seconds, least(extract(epoch FROM v_now - started_at),
                                                          p_kill)) END), 0),
           count(*) FILTER (WHERE NOT settled)
      INTO v_used, v_flying
      FROM github_server_time
     WHERE token_fingerprint = p_token_fingerprint AND started_at > v_from;
    -- Alone in the window, a request larger than the budget still goes (else it never would).
    IF v_used + p_seconds <= p_budget OR v_used = 0 THEN
        INSERT INTO github_server_time (token_fingerprint, process, started_at, estimate,
                                        seconds)
        VALUES (p_token_fingerprint, p_process, v_now, p_seconds, p_seconds)
        RETURNING id INTO v_id;
        RETURN jsonb_build_object('id', v_id, 'retry_after', 0, 'used', v_used + p_seconds);
    END IF;
    -- When enough leaves the window (oldest first) for this request to fit.
    FOR r IN SELECT started_at,
                    CASE WHEN settled THEN seconds
                         ELSE greatest(seconds, least(extract(epoch FROM v_now - started_at),
                                                      p_kill)) END AS counted
               FROM github_server_time
              WHERE token_fingerprint = p_token_fingerprint AND started_at > v_from
              ORDER BY started_at
    LOOP
        v_freed := v_freed + r.counted;
        IF v_used - v_freed + p_seconds <= p_budget THEN
            v_wait := extract(epoch FROM r.started_at - v_from);
            EXIT;
        END IF;
    END LOOP;
    v_wait := coalesce(v_wait, p_window);
    -- Answers in flight may settle below their estimate sooner: ask again shortly.
    IF v_flying > 0 THEN
        v_wait := least(v_wait, p_window / 60);
    END IF;
    RETURN jsonb_build_object('id', NULL, 'retry_after', greatest(v_wait, 0.001),
                              'used', v_used);
END;
$$;

-- The measured response time of a granted request replaces its estimate. Returns whether
-- the reservation was still there (it leaves with its window).
CREATE OR REPLACE FUNCTION settle_server_time(p_id bigint, p_seconds double precision)
RETURNS boolean
LANGUAGE sql
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
    WITH settled AS (
        UPDATE github_server_time
           SET seconds = greatest(0, p_seconds), settled = true, settled_at = clock_timestamp()
         WHERE id = p_id AND NOT settled
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM settled);
$$;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'reserve_server_time(text, text, double precision, double precision, double precision, double precision)'::regprocedure,
        'settle_server_time(bigint, double precision)'::regprocedure]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END
$$;

NOTIFY pgrst, 'reload schema';
