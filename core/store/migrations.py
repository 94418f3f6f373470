"""Applies `migrations/*.sql` in order, once each, and refuses edited history.

Files are named `YYYYMMDDHHMMSS_name.sql`, as the Supabase CLI names them, so the same folder
can be pushed with `supabase db push`. A version is applied when either history has it (ours
or the CLI's, see `migration_history`); each file runs in its own transaction and is recorded
in each history `migrate` keeps. Nothing is written before `migration_rights` has checked that
this role may.

Several processes may migrate at once, directly or through a pooler in transaction mode: each
transaction takes a transaction-scoped advisory lock and reads what is pending under it, so
each file is applied once, and the lock ends with the transaction even where a pooler hands
the next one to another server connection (a session lock would stay on the server connection
it was taken on, and the next `migrate` would wait for it forever).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.errors import MigrationError, MigrationNotAllowed
from core.store import migration_history, migration_rights
from core.store.migration_history import OURS, SUPABASE, Applied
from core.store.refusals import check_server

_FILENAME = re.compile(r"^(\d{14})_(\w+)\.sql$")
_LOCK_KEY = 0x6261636B66696C6C  # "backfill"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def statements_digest(self) -> str:
        return migration_history.statements_digest(self.sql)


def migrations_dir() -> Path:
    """The source tree's `migrations/`, or the copy a wheel installs inside `core/`."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "migrations", here / "_migrations"):
        if candidate.is_dir():
            return candidate
    raise MigrationError("the migrations folder is missing from this installation")


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named YYYYMMDDHHMMSS_name.sql")
        found.append(Migration(match.group(1), match.group(2), path))
    return found


def _check_history(migrations: list[Migration], applied: list[Applied]) -> None:
    files = {m.version: m for m in migrations}
    for record in applied:
        m = files.get(record.version)
        if m is None or record.digest is None:
            continue  # not ours (a project's own), or recorded without its statements
        if record.history == OURS and record.digest != m.checksum:
            raise MigrationError(
                f"{m.path.name} was changed after it was applied (checksum differs). "
                "Applied migrations are history: revert the edit and add a new migration."
            )
        if record.history == SUPABASE and record.digest != m.statements_digest:
            raise MigrationError(
                f"{m.path.name} was changed after `supabase db push` applied it (its statements "
                "in supabase_migrations.schema_migrations differ). Applied migrations are "
                "history: revert the edit and add a new migration."
            )


def pending(conn: psycopg.Connection, directory: Path | None = None) -> list[Migration]:
    """Migrations neither history has; raises if an applied one was edited."""
    migrations = discover(directory)
    applied = migration_history.read(conn)
    _check_history(migrations, applied)
    done = {record.version for record in applied}
    return [m for m in migrations if m.version not in done]


def apply(conn: psycopg.Connection, directory: Path | None = None) -> list[Migration]:
    """Apply what is pending; returns what this call applied (empty when up to date).

    Raises `DatabaseUnsupported` (a server the product cannot use, refused before anything
    is written), `MigrationNotAllowed` (this role may not change the schema: one line says
    who may) or `MigrationError` (a file failed, or an applied one was edited)."""
    check_server(conn.info)
    conn.autocommit = True
    migrations = discover(directory)
    done: list[Migration] = []
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            step = _next_step(conn, migrations, first=not done)  # read under the lock
            if step is None:
                return done
            histories, m = step
            _apply_one(conn, histories, m)
        done.append(m)


def _next_step(
    conn: psycopg.Connection, migrations: list[Migration], *, first: bool
) -> tuple[list[str], Migration] | None:
    """The histories to record in and the next file to apply, or None when none is pending.

    On the first step, also fills the CLI's history with what only ours has (applied by an
    older `migrate`), so that a later `supabase db push` of the same files finds nothing."""
    applied = migration_history.read(conn)
    _check_history(migrations, applied)
    done = {record.version for record in applied}
    supabase = migration_history.keeps_supabase_history(conn)
    in_supabase = {r.version for r in applied if r.history == SUPABASE}
    unrecorded = [m for m in migrations if m.version in done and m.version not in in_supabase]
    todo = [m for m in migrations if m.version not in done]
    if not supabase:
        unrecorded = []
    if not todo and not (first and unrecorded):
        return None
    if first:
        migration_rights.check(conn, supabase_history=supabase)
        migration_history.create(conn, supabase=supabase)
        for m in unrecorded:
            migration_history.record(conn, [SUPABASE], m)
    if not todo:
        return None
    return ([OURS, SUPABASE] if supabase else [OURS]), todo[0]


def _apply_one(conn: psycopg.Connection, histories: list[str], m: Migration) -> None:
    """Run one file and record it in `histories`, in the caller's transaction."""
    try:
        conn.execute(m.sql)
        migration_history.record(conn, histories, m)
    except psycopg.errors.InsufficientPrivilege as exc:
        detail = exc.diag.message_primary or str(exc)
        raise MigrationNotAllowed(
            f"{m.path.name} failed: {detail}; run `backfill-console migrate` with the "
            "DATABASE_URL of the schema's owner"
        ) from None
    except psycopg.Error as exc:
        detail = exc.diag.message_primary or str(exc)
        raise MigrationError(f"{m.path.name} failed: {detail}") from None
