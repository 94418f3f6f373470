"""What `migrate` needs before it changes anything, checked before it does.

A role that may not change the schema gets one line saying who may (`MigrationNotAllowed`,
exit 4) and nothing is changed; never a permission error halfway through the files. It needs
to own the product's tables, to create in schema public, to write the Supabase CLI's history
when it keeps it, and the API roles the migrations grant to: the first migration creates them
where they are missing, but only a superuser may create a BYPASSRLS role (Postgres 16+: a
BYPASSRLS role too), so where this role may not, the line gives what a superuser must run.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from core.errors import MigrationNotAllowed
from core.store.migration_history import SUPABASE_TABLE

# The roles migrations/20250103000000_initial_schema.sql creates where missing, with the same
# attributes (a test holds the two together).
ROLES = {
    "anon": "NOLOGIN NOINHERIT",
    "authenticated": "NOLOGIN NOINHERIT",
    "service_role": "NOLOGIN NOINHERIT BYPASSRLS",
}

_AS_OWNER = "run `backfill-console migrate` with the DATABASE_URL of the schema's owner"


def check(conn: psycopg.Connection, *, supabase_history: bool) -> None:
    """Raise `MigrationNotAllowed` unless this connection's role may apply migrations."""
    (user,) = conn.execute("SELECT current_user").fetchone() or ("?",)
    _owns_the_schema(conn, user)
    _creates_in_public(conn, user)
    if supabase_history:
        _writes_supabase_history(conn, user)
    _roles_exist_or_can(conn, user)


def _owns_the_schema(conn: psycopg.Connection, user: str) -> None:
    """The product's tables, once there, are altered by later files: their owner's job."""
    row = conn.execute(
        "SELECT pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' "
        "AND c.relname IN ('repositories', 'backfill_schema_migrations') "
        "ORDER BY c.relname = 'repositories' DESC LIMIT 1"
    ).fetchone()
    if row and not row[1]:
        raise MigrationNotAllowed(
            f"role {user} may not change the schema: its tables belong to {row[0]}; "
            f"{_AS_OWNER} ({row[0]})"
        )


def _creates_in_public(conn: psycopg.Connection, user: str) -> None:
    (allowed,) = conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone() or (
        False,
    )
    if not allowed:
        raise MigrationNotAllowed(
            f"role {user} may not create tables in schema public; {_AS_OWNER} "
            "(or the database's owner)"
        )


def _writes_supabase_history(conn: psycopg.Connection, user: str) -> None:
    """Inserting into the CLI's table, or creating it (and its schema) where missing."""
    (allowed,) = conn.execute(
        """
        SELECT CASE
            WHEN to_regnamespace('supabase_migrations') IS NULL
                THEN has_database_privilege(current_database(), 'CREATE')
            WHEN NOT has_schema_privilege('supabase_migrations', 'USAGE') THEN false
            WHEN to_regclass('supabase_migrations.schema_migrations') IS NULL
                THEN has_schema_privilege('supabase_migrations', 'CREATE')
            ELSE has_table_privilege('supabase_migrations.schema_migrations', 'INSERT')
        END
        """
    ).fetchone() or (False,)
    if not allowed:
        raise MigrationNotAllowed(
            f"role {user} may not write the Supabase CLI's migration history "
            f"({SUPABASE_TABLE}); {_AS_OWNER} (on Supabase: postgres)"
        )


def _roles_exist_or_can(conn: psycopg.Connection, user: str) -> None:
    """Ask the database whether each missing role may be created (and roll the answer back:
    the first migration creates them)."""
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES),)
    ).fetchall()
    missing = [role for role in ROLES if role not in {r for (r,) in rows}]
    refused: list[str] = []
    if missing:
        with conn.transaction(force_rollback=True):
            for role in missing:
                try:
                    with conn.transaction():
                        conn.execute(
                            sql.SQL("CREATE ROLE {} " + ROLES[role]).format(sql.Identifier(role))
                        )
                except psycopg.errors.InsufficientPrivilege:
                    refused.append(role)
    if refused:
        run = " ".join(f"CREATE ROLE {role} {ROLES[role]};" for role in refused)
        raise MigrationNotAllowed(
            f"role {user} may not create the role(s) {', '.join(refused)} the migrations grant "
            f"to; a superuser must first run: {run}"
        )
