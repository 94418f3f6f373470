-- The routing rule, once: a repository of installation `p_installation` may be worked with
-- the credentials of `p_installations` (NULL: any credential; a repository without an
-- installation: any credential).
CREATE OR REPLACE FUNCTION public.routed_to(p_installation bigint, p_installations bigint[])
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
    SELECT p_installations IS NULL OR p_installation IS NULL
           OR p_installation = ANY (p_installations);
$function$;

REVOKE ALL ON FUNCTION routed_to(bigint,bigint[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION routed_to(bigint,bigint[]) TO service_role;
