-- Writes that do not slow with size: storing a page appends to its indexes instead of
-- touching a random leaf of each.
--
-- 1. Time-ordered keys. Every generated id was gen_random_uuid() (version 4): each row of a
--    page (37 PRs and their ~300 reviews, comments, review threads and review comments) went
--    to a random leaf of its primary key and of every index on a column pointing at it
--    (reviews.pull_request_id, ...). Once those indexes outgrow memory each such insert reads
--    a leaf from disk and, the first time the leaf changes after a checkpoint, writes its
--    whole 8 KB image to the WAL. uuid_v7() is a version 7 UUID (RFC 9562): the first 48
--    bits are the Unix time in milliseconds, the rest random, so new ids sort after old ones
--    and their index entries land on the rightmost leaves, which stay in memory. Postgres 18
--    has uuidv7(); Supabase runs older servers, so the function builds one from
--    gen_random_uuid() (13+). Rows already stored keep their ids (a uuid is a uuid).
--
--    The function has no SET search_path, unlike every other function here: it is a column
--    default, evaluated once per row, and a function with a SET clause is called through
--    the slow path that saves and restores settings (14 us a row here against 5 us, about
--    3 ms on a 333-row page). Instead every name in it is schema-qualified (the keyword forms
--    overlay/substring resolve to pg_catalog by the grammar), so the caller's search_path
--    changes nothing.
--
-- 2. Indexes no query uses, dropped (each one written on every row stored):
--    pull_requests_author_idx, reviews_author_idx, comments_author_idx,
--    review_comments_author_idx: no function, view or client query filters, joins or orders
--    by author_id; contributors are never deleted (shared between repositories, `remove`
--    keeps them), so the foreign keys never look rows up by author either.
--    progressive_backfill_state_updated_idx: nothing filters or orders by updated_at; and
--    since every commit sets updated_at, the index made each commit's update of the
--    backfill row a non-HOT update (a new entry in each of that table's indexes).
CREATE FUNCTION uuid_v7()
RETURNS uuid
LANGUAGE sql
VOLATILE
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
               pg_catalog.set_bit(pg_catalog.set_bit(
                   overlay(pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                           PLACING substring(pg_catalog.int8send(pg_catalog.floor(
                                       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                                       OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8) FROM 3)
                           FROM 1 FOR 6),
                   52, 1), 53, 1),
               'hex')::pg_catalog.uuid
$$;

REVOKE ALL ON FUNCTION uuid_v7() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION uuid_v7() TO service_role;

ALTER TABLE repositories ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE contributors ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE pull_requests ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE reviews ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE comments ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE progressive_backfill_state ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE backfill_chunks ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE review_threads ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE review_comments ALTER COLUMN id SET DEFAULT uuid_v7();

DROP INDEX pull_requests_author_idx;
DROP INDEX reviews_author_idx;
DROP INDEX comments_author_idx;
DROP INDEX review_comments_author_idx;
DROP INDEX progressive_backfill_state_updated_idx;
