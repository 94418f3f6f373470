-- p_kind itself, when it names a kind of comment the upkeep keeps ('comments',
-- 'review_comments'); raises invalid_parameter_value (22023) otherwise, so a mistaken kind is
-- an error, never a silent no-op (or a verification that finds nothing to delete).
CREATE OR REPLACE FUNCTION public.comment_kind(p_kind text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('comments', 'review_comments') THEN
        RAISE EXCEPTION 'unknown kind of comment: %', coalesce(p_kind, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_kind;
END
$function$;

REVOKE ALL ON FUNCTION comment_kind(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION comment_kind(text) TO service_role;
