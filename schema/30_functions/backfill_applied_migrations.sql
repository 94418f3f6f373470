-- Which migrations are applied, readable by the roles that run the product, from both histories
-- a database can hold: `backfill-console migrate`'s (public.backfill_schema_migrations) and
-- the Supabase CLI's (supabase_migrations.schema_migrations, written by `supabase db push`).
--
-- A worker's login role is a member of service_role; it inherits its grants but not its
-- BYPASSRLS, so it reads no row of backfill_schema_migrations (RLS, no policy), and the CLI's
-- schema is not granted to it at all. Rather than open either table (the CLI's holds a
-- project's whole SQL, secrets in CREATE ROLE ... PASSWORD included), this function reads them
-- with its owner's rights and returns only each version and a digest: the checksum our runner
-- recorded, or for the CLI's rows a sha256 of the statements with whitespace and `;` removed
-- (what the runner compares with the file; NULL when the CLI recorded no statements).
CREATE OR REPLACE FUNCTION public.backfill_applied_migrations()
 RETURNS TABLE(history text, version text, digest text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    IF to_regclass('public.backfill_schema_migrations') IS NOT NULL THEN
        RETURN QUERY
            SELECT 'backfill'::text, m.version, m.checksum
              FROM public.backfill_schema_migrations m;
    END IF;
    -- One test per IF: each later one raises where an earlier one is false.
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'supabase_migrations') THEN
        RETURN;
    END IF;
    IF NOT has_schema_privilege('supabase_migrations', 'USAGE') THEN
        RETURN;
    END IF;
    IF to_regclass('supabase_migrations.schema_migrations') IS NULL THEN
        RETURN;
    END IF;
    IF NOT has_table_privilege('supabase_migrations.schema_migrations', 'SELECT') THEN
        RETURN;
    END IF;
    -- Its `statements` column is added by the CLI on every push; a table older than that has
    -- versions only.
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = 'supabase_migrations.schema_migrations'::regclass
                      AND attname = 'statements' AND NOT attisdropped) THEN
        RETURN QUERY
            SELECT 'supabase'::text, s.version, NULL::text
              FROM supabase_migrations.schema_migrations s;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT 'supabase'::text, s.version,
               CASE WHEN coalesce(cardinality(s.statements), 0) = 0 THEN NULL
                    ELSE encode(sha256(convert_to(
                             translate(array_to_string(s.statements, ''),
                                       ' ' || chr(9) || chr(10) || chr(11) || chr(12)
                                           || chr(13) || ';',
                                       ''),
                             'UTF8')), 'hex')
               END
          FROM supabase_migrations.schema_migrations s;
END
$function$;

REVOKE ALL ON FUNCTION backfill_applied_migrations() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION backfill_applied_migrations() TO service_role;
