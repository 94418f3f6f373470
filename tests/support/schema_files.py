"""`schema/`: the schema as it is now, loaded into a database, and refreshed from one.

`schema/` holds what all of `migrations/` produce, in one place: roles, tables (columns,
constraints, indexes, grants, row-level security), one file per SQL function, triggers.
`load` runs its files in path order (numbered folders and table files; functions need no
order, their bodies are checked when called, as pg_dump loads them; those a column default
calls are in 15_key_functions/, before the tables) in one transaction.

Run as a module, it writes functions' current definitions from a migrated database into
their files, keeping each file's leading comments (a new file takes the comments above the
function's last definition in `migrations/`):

    python -m tests.support.schema_files claim_sync commit_chunk
    python -m tests.support.schema_files --all      # every function; drops gone ones' files

By default it migrates a throwaway embedded database; `--database-url` reads a migrated one.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from core.store import migrations

FUNCTIONS = "30_functions"
# Functions the tables' column defaults call (uuid_v7): a default is parsed when its table is
# created, so these are loaded before 20_tables/.
KEY_FUNCTIONS = "15_key_functions"

# A pointer at a document that is not in the repository, e.g. "(issue 17, DESIGN.md §9)".
_POINTER = re.compile(r"issue \d+|DESIGN\.md|§", re.IGNORECASE)


def schema_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "schema"


def files(directory: Path | None = None) -> list[Path]:
    """The files `load` runs, in the order it runs them."""
    directory = directory or schema_dir()
    return sorted(directory.rglob("*.sql"), key=lambda p: p.relative_to(directory).parts)


def load(conn: psycopg.Connection, directory: Path | None = None) -> None:
    """Build the schema in `conn`'s (empty) database from `directory` (default `schema/`)."""
    directory = directory or schema_dir()
    with conn.transaction():
        conn.execute("SET LOCAL check_function_bodies = off")
        for path in files(directory):
            try:
                conn.execute(path.read_text(encoding="utf-8"))  # type: ignore[arg-type]
            except psycopg.Error as exc:
                raise RuntimeError(f"{path.relative_to(directory)}: {exc}") from exc


def function_names(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT proname FROM pg_proc"
        " WHERE pronamespace = 'public'::regnamespace ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def definition(conn: psycopg.Connection, name: str) -> str:
    """Each overload of `name` as pg_get_functiondef prints it, with its grants."""
    rows = conn.execute(
        """
        SELECT pg_get_functiondef(p.oid),
               p.oid::regprocedure::text,
               p.proacl IS NOT NULL,
               (SELECT array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                      ELSE quote_ident(pg_get_userbyid(a.grantee)) END
                                 || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION'
                                         ELSE '' END
                                 ORDER BY 1)
                  FROM aclexplode(p.proacl) AS a
                 WHERE a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE')
          FROM pg_proc AS p
         WHERE p.pronamespace = 'public'::regnamespace AND p.proname = %s
         ORDER BY pg_get_function_identity_arguments(p.oid)
        """,
        (name,),
    ).fetchall()
    if not rows:
        raise LookupError(f"no function {name} in the migrated database")
    parts = []
    for functiondef, signature, has_acl, grantees in rows:
        text = functiondef.rstrip("\n") + ";\n"
        if has_acl:
            text += f"\nREVOKE ALL ON FUNCTION {signature} FROM PUBLIC, anon, authenticated;\n"
            for grantee in grantees or []:
                text += f"GRANT EXECUTE ON FUNCTION {signature} TO {grantee};\n"
        parts.append(text)
    return "\n".join(parts)


def header(path: Path, name: str, migrations_dir: Path | None = None) -> str:
    """The comments that open `path`, or those above `name`'s last definition in migrations."""
    if path.exists():
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.strip() and not line.startswith("--"):
                break
            kept.append(line)
        return "".join(kept).strip("\n") + "\n" if "".join(kept).strip() else ""
    return migration_comment(name, migrations_dir)[1]


def migration_comment(name: str, migrations_dir: Path | None = None) -> tuple[str, str]:
    """The last migration file that creates `name`, and the comment block right above that
    `CREATE FUNCTION name(` (empty strings when no migration does)."""
    create = re.compile(
        rf"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:public\.)?{re.escape(name)}\s*\(",
        re.IGNORECASE,
    )
    for migration in reversed(migrations.discover(migrations_dir)):
        text = migration.sql
        found = list(create.finditer(text))
        if not found:
            continue
        before = text[: found[-1].start()]
        before = re.sub(r"(\s*DROP\s+FUNCTION[^;]*;)+\s*$", "", before, flags=re.IGNORECASE)
        block: list[str] = []
        for line in reversed(before.rstrip().splitlines()):
            if not line.startswith("--"):
                break
            block.append(line)
        return migration.path.name, "".join(line + "\n" for line in reversed(block))
    return "", ""


def write(conn: psycopg.Connection, name: str, directory: Path | None = None) -> Path | None:
    """Write `name`'s current definition into its schema file; its path if that changed it."""
    directory = directory or schema_dir()
    path = directory / FUNCTIONS / f"{name}.sql"
    if (directory / KEY_FUNCTIONS / f"{name}.sql").exists():
        path = directory / KEY_FUNCTIONS / f"{name}.sql"
    text = header(path, name) + definition(conn, name)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_all(conn: psycopg.Connection, directory: Path | None = None) -> list[Path]:
    """Write every function's file; delete the files of functions the database no longer has.
    The paths written or deleted."""
    directory = directory or schema_dir()
    names = function_names(conn)
    changed = []
    for stale in sorted((directory / FUNCTIONS).glob("*.sql")):
        if stale.stem not in names:
            stale.unlink()
            changed.append(stale)
    for name in names:
        path = write(conn, name, directory)
        if path is not None:
            changed.append(path)
    return changed


@contextmanager
def migrated_database() -> Iterator[str]:
    """A throwaway embedded server with one freshly migrated database; its URL."""
    from core.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="schema-files-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            admin = server.acquire()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("CREATE DATABASE migrated")
            url = make_conninfo(admin, dbname="migrated")
            with psycopg.connect(url) as conn:
                migrations.apply(conn)
            yield url
        finally:
            server.destroy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.schema_files",
        description="Write SQL functions' current definitions into schema/30_functions/.",
    )
    parser.add_argument("functions", nargs="*", metavar="function")
    parser.add_argument("--all", action="store_true", help="every function of the schema")
    parser.add_argument("--database-url", help="a migrated database (default: a throwaway one)")
    args = parser.parse_args(argv)
    if not args.functions and not args.all:
        parser.error("name a function, or --all")
    try:
        with _database(args.database_url) as url, psycopg.connect(url) as conn:
            if args.all:
                changed = write_all(conn)
            else:
                changed = [p for p in (write(conn, n) for n in args.functions) if p is not None]
    except (LookupError, psycopg.Error, OSError) as exc:
        print(f"schema_files: {exc}", file=sys.stderr)
        return 1
    for path in changed:
        shown = path.relative_to(schema_dir().parent)
        if not path.exists():
            print(f"{shown}: deleted (no such function any more)")
            continue
        text = path.read_text(encoding="utf-8")
        print(f"{shown}: written")
        if _POINTER.search(text):
            print("  its comments point at a document outside the repository: reword them")
        source, comment = migration_comment(path.stem)
        if comment and comment not in text:
            print(f"  its comments may need what {source} says of the change:")
            print("".join(f"    {line}" for line in comment.splitlines(keepends=True)), end="")
    if not changed:
        print("schema/ functions already match the migrations")
    return 0


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with migrated_database() as migrated:
            yield migrated


if __name__ == "__main__":
    sys.exit(main())
