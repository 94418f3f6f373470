-- A version 7 UUID (RFC 9562): the Unix time in milliseconds in the first 48 bits, the rest
-- random, so new ids sort after old ones and index inserts append (every table's generated
-- id). Postgres 18 has uuidv7(); Supabase runs older servers. No SET search_path: it is a
-- column default, called once per row, and a SET clause makes each call take the slow path
-- (14 us a row against 5 us); every name in it is schema-qualified instead.
CREATE OR REPLACE FUNCTION public.uuid_v7()
 RETURNS uuid
 LANGUAGE sql
 PARALLEL SAFE
AS $function$
    SELECT pg_catalog.encode(
               pg_catalog.set_bit(pg_catalog.set_bit(
                   overlay(pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                           PLACING substring(pg_catalog.int8send(pg_catalog.floor(
                                       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                                       OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8) FROM 3)
                           FROM 1 FOR 6),
                   52, 1), 53, 1),
               'hex')::pg_catalog.uuid
$function$;

REVOKE ALL ON FUNCTION uuid_v7() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION uuid_v7() TO service_role;
