-- Returns {"id": reservation or null, "retry_after": seconds to wait before asking again
-- (0 when granted), "used": the token's server time in the window, this request included
-- when granted}. Seconds throughout, on the caller's (possibly time-scaled) scale.
CREATE OR REPLACE FUNCTION public.reserve_server_time(p_token_fingerprint text, p_process text, p_seconds double precision, p_window double precision, p_budget double precision, p_kill double precision)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
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
$function$;

REVOKE ALL ON FUNCTION reserve_server_time(text,text,double precision,double precision,double precision,double precision) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION reserve_server_time(text,text,double precision,double precision,double precision,double precision) TO service_role;
