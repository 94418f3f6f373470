-- Route a repository registered before routing (installation_id NULL) once a worker has asked
-- GitHub which installation sees it. Only fills a NULL: `add` decides a known installation.
CREATE OR REPLACE FUNCTION public.route_repository(p_repository_id uuid, p_installation_id bigint)
 RETURNS boolean
 LANGUAGE sql
 SET search_path TO 'public', 'pg_temp'
AS $function$
    WITH routed AS (
        UPDATE repositories SET installation_id = p_installation_id, updated_at = now()
         WHERE id = p_repository_id AND installation_id IS NULL
           AND p_installation_id IS NOT NULL
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM routed);
$function$;

REVOKE ALL ON FUNCTION route_repository(uuid,bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION route_repository(uuid,bigint) TO service_role;
