"""The records of applied migrations a database holds, read as one and kept alike.

Two tools apply `migrations/`: `backfill-console migrate` records each file in
public.backfill_schema_migrations with a sha256 of its bytes; `supabase db push` records it in
supabase_migrations.schema_migrations with the statements it split the file into. One rule
reads them: a version is applied when either history has it. Each history's record is checked
against the file: ours by its checksum, the CLI's by `statements_digest` (the CLI only trims
whitespace and `;` around each statement, so the file and its statements have the same one).

A role that may not read the tables (a worker's, a member of service_role) reads both through
`backfill_applied_migrations()`, which returns versions and digests only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import psycopg

OURS = "backfill"
SUPABASE = "supabase"
OURS_TABLE = "public.backfill_schema_migrations"
SUPABASE_TABLE = "supabase_migrations.schema_migrations"

# Whitespace as the migration function removes it (ASCII only: a test keeps the files so).
_IGNORED = str.maketrans("", "", " \t\n\v\f\r;")

_OURS_DDL = """
CREATE TABLE IF NOT EXISTS public.backfill_schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.backfill_schema_migrations ENABLE ROW LEVEL SECURITY;
-- The runner's own table, closed to the API's public roles like every table of the schema
-- (on Supabase the default privileges would give them ALL on it).
REVOKE ALL ON TABLE public.backfill_schema_migrations FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON TABLE public.backfill_schema_migrations FROM anon;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        REVOKE ALL ON TABLE public.backfill_schema_migrations FROM authenticated;
    END IF;
END
$$;
"""

# The Supabase CLI's own statements (pkg/migration/history.go), each run only where needed:
# the ALTERs need the table's owner even when the column is there.
_SUPABASE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS supabase_migrations"
_SUPABASE_TABLE = (
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)"
)
_SUPABASE_COLUMNS = {
    "statements": "ALTER TABLE supabase_migrations.schema_migrations "
    "ADD COLUMN IF NOT EXISTS statements text[]",
    "name": "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
}


class Recordable(Protocol):
    """What a history records of a migration file (core.store.migrations.Migration)."""

    @property
    def version(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sql(self) -> str: ...
    @property
    def checksum(self) -> str: ...


@dataclass(frozen=True)
class Applied:
    """One history's record of one version: `digest` is our checksum, or the CLI's statements
    digest (None when the CLI recorded no statements: nothing to check it against)."""

    history: str
    version: str
    digest: str | None


def statements_digest(text: str) -> str:
    """sha256 of `text` without whitespace and `;`: equal for a file and the statements the
    Supabase CLI split it into, different after any other edit."""
    return hashlib.sha256(text.translate(_IGNORED).encode("utf-8")).hexdigest()


def read(conn: psycopg.Connection) -> list[Applied]:
    """Every record of both histories that this connection's role may see.

    Through `backfill_applied_migrations()` where it exists and the role may call it; else
    (a schema older than it, or empty) the tables themselves, those the role may read."""
    (callable_,) = conn.execute(
        "SELECT p.oid IS NOT NULL AND has_function_privilege(p.oid, 'EXECUTE') "
        "FROM (SELECT to_regprocedure('public.backfill_applied_migrations()')::oid AS oid) p"
    ).fetchone() or (False,)
    if callable_:
        rows = conn.execute(
            "SELECT history, version, digest FROM public.backfill_applied_migrations()"
        ).fetchall()
        return [Applied(h, v, d) for h, v, d in rows]
    found: list[Applied] = []
    if _readable(conn, "public", "backfill_schema_migrations"):
        rows = conn.execute(f"SELECT version, checksum FROM {OURS_TABLE}").fetchall()
        found += [Applied(OURS, v, c) for v, c in rows]
    if _readable(conn, "supabase_migrations", "schema_migrations"):
        statements = "statements" if _has_column(conn, "statements") else "NULL::text[]"
        rows = conn.execute(f"SELECT version, {statements} FROM {SUPABASE_TABLE}").fetchall()
        found += [
            Applied(SUPABASE, v, statements_digest("".join(s)) if s else None) for v, s in rows
        ]
    return found


def keeps_supabase_history(conn: psycopg.Connection) -> bool:
    """Whether `migrate` records in the CLI's history too: on a Supabase project (its
    `supabase_admin` role), or wherever the CLI has pushed before. Then `supabase db push`
    of the same files afterwards finds nothing to do."""
    (keeps,) = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_admin') "
        "OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'supabase_migrations' AND c.relname = 'schema_migrations')"
    ).fetchone() or (False,)
    return bool(keeps)


def create(conn: psycopg.Connection, *, supabase: bool) -> None:
    """The history tables `migrate` writes, where missing (the CLI's as the CLI creates it)."""
    with conn.transaction():
        conn.execute(_OURS_DDL)
        if not supabase:
            return
        (has_schema,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'supabase_migrations')"
        ).fetchone() or (False,)
        if not has_schema:
            conn.execute(_SUPABASE_SCHEMA)
        if not _exists(conn, "supabase_migrations", "schema_migrations"):
            conn.execute(_SUPABASE_TABLE)
        for column, ddl in _SUPABASE_COLUMNS.items():
            if not _has_column(conn, column):
                conn.execute(ddl)


def record(conn: psycopg.Connection, histories: Iterable[str], m: Recordable) -> None:
    """Record `m` as applied in each of `histories` (inside the caller's transaction).

    The CLI's row holds the file as one statement, as Supabase Studio records what it
    applies; `supabase migration fetch` writes the same file back from it."""
    for history in histories:
        if history == OURS:
            conn.execute(
                f"INSERT INTO {OURS_TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
        else:
            conn.execute(
                f"INSERT INTO {SUPABASE_TABLE} (version, name, statements) "
                "VALUES (%s, %s, %s) ON CONFLICT (version) DO NOTHING",
                (m.version, m.name, [m.sql.strip().rstrip(";")]),
            )


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    (found,) = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p'))",
        (schema, table),
    ).fetchone() or (False,)
    return bool(found)


def _readable(conn: psycopg.Connection, schema: str, table: str) -> bool:
    """The table exists and this role may read it (checked in the catalog: no error raised)."""
    if not _exists(conn, schema, table):
        return False
    (readable,) = conn.execute(
        "SELECT has_schema_privilege(%s, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, schema, table),
    ).fetchone() or (False,)
    return bool(readable)


def _has_column(conn: psycopg.Connection, column: str) -> bool:
    (found,) = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'supabase_migrations' "
        "AND c.relname = 'schema_migrations' AND a.attname = %s AND NOT a.attisdropped)",
        (column,),
    ).fetchone() or (False,)
    return bool(found)
