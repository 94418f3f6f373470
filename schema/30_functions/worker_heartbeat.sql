-- Workers announce themselves and what they are on, so every console sees all machines.
CREATE OR REPLACE FUNCTION public.worker_heartbeat(p_worker_id text, p_host text, p_pid integer, p_status text, p_backfill_state_id uuid DEFAULT NULL::uuid, p_detail text DEFAULT NULL::text)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    INSERT INTO workers AS w (id, host, pid, status, backfill_state_id, detail, stopped_at)
    VALUES (p_worker_id, p_host, p_pid, p_status, p_backfill_state_id, p_detail,
            CASE WHEN p_status = 'stopped' THEN now() END)
    ON CONFLICT (id) DO UPDATE
       SET host = EXCLUDED.host, pid = EXCLUDED.pid, status = EXCLUDED.status,
           backfill_state_id = EXCLUDED.backfill_state_id, detail = EXCLUDED.detail,
           heartbeat_at = now(), stopped_at = EXCLUDED.stopped_at,
           started_at = CASE WHEN w.status = 'stopped' THEN now() ELSE w.started_at END;
$function$;

REVOKE ALL ON FUNCTION worker_heartbeat(text,text,integer,text,uuid,text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION worker_heartbeat(text,text,integer,text,uuid,text) TO service_role;
