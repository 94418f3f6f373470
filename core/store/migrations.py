"""Applies `migrations/*.sql` in order, once each, and refuses edited history.

Files are named `YYYYMMDDHHMMSS_name.sql`, as the Supabase CLI names them, so the same folder
can be pushed with `supabase db push`. Each file runs in its own transaction and is recorded
with a checksum; an advisory lock lets several processes start at once safely.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.errors import MigrationError
from core.store.refusals import check_server

_FILENAME = re.compile(r"^(\d{14})_(\w+)\.sql$")
_LOCK_KEY = 0x6261636B66696C6C  # "backfill"

_HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS backfill_schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE backfill_schema_migrations ENABLE ROW LEVEL SECURITY;
"""


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


def _applied(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT version, checksum FROM backfill_schema_migrations").fetchall()
    return {version: checksum for version, checksum in rows}


def _check_history(migrations: list[Migration], applied: dict[str, str]) -> None:
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise MigrationError(
                f"{m.path.name} was changed after it was applied (checksum differs). "
                "Applied migrations are history: revert the edit and add a new migration."
            )


def pending(conn: psycopg.Connection, directory: Path | None = None) -> list[Migration]:
    """Migrations not yet applied; raises if an applied one was edited."""
    migrations = discover(directory)
    exists = conn.execute("SELECT to_regclass('backfill_schema_migrations')").fetchone()
    applied = _applied(conn) if exists and exists[0] else {}
    _check_history(migrations, applied)
    return [m for m in migrations if m.version not in applied]


def apply(conn: psycopg.Connection, directory: Path | None = None) -> list[Migration]:
    """Apply what is pending; returns what was applied (empty when up to date). A server
    the product cannot use is refused before anything is written (`check_server`)."""
    check_server(conn.info)
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(_HISTORY_DDL)
        todo = pending(conn, directory)
        for m in todo:
            try:
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO backfill_schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                detail = exc.diag.message_primary or str(exc)
                raise MigrationError(f"{m.path.name} failed: {detail}") from None
        return todo
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
