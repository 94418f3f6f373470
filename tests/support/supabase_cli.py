"""`supabase db push` replayed: what the Supabase CLI does to a database, step for step.

The CLI cannot be installed here (its npm package downloads a binary from GitHub), so this is
a port of its Go code (supabase/cli, apps/cli-go), kept to its behaviour:

- pending files (internal/migration/up, pkg/migration/apply.go FindPendingMigrations): the
  versions in supabase_migrations.schema_migrations (none when the table is missing) against
  the local `<digits>_<name>.sql` files in name order; a remote version with no local file,
  or a local file older than the last remote version and not applied, is an error;
- nothing pending: "Remote database is up to date.", nothing written;
- the history table (pkg/migration/history.go CreateMigrationTable): one batch;
- each file (pkg/migration/apply.go ApplyMigrations, file.go ExecBatch): `RESET ALL`, then
  the file split into statements (pkg/parser, ported below) sent as one pipeline of
  extended-protocol statements with the history INSERT (version, name, statements) at the end,
  one Sync: one implicit transaction, so a failing statement leaves nothing of its file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

_FILE = re.compile(r"^([0-9]+)_(.*)\.sql$")

CREATE_MIGRATION_TABLE = [
    "SET lock_timeout = '4s'",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
]
INSERT_MIGRATION_VERSION = (
    "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) "
    "VALUES(%s, %s, %s)"
)
LIST_MIGRATION_VERSION = (
    "SELECT version FROM supabase_migrations.schema_migrations ORDER BY version"
)


class PushFailed(Exception):
    """What the CLI prints before exiting 1."""


@dataclass
class PushResult:
    applied: list[str]
    output: str


# pkg/parser/state.go -------------------------------------------------------------------------
# Each state's `next(r, text, start, end)` sees the current token as text[start:end], its last
# character being `r`; it returns the next state, or None to end the token (at a `;`).


class _State:
    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        raise NotImplementedError


def _is_identifier(r: str) -> bool:
    return r.isalpha() or r.isdigit() or r in "_$"


def _is_begin_atomic(text: str, start: int, end: int) -> bool:
    offset = end - len("ATOMIC")
    if offset < start or text[offset:end].upper() != "ATOMIC":
        return False
    if offset > start and _is_identifier(text[offset - 1]):
        return False
    prefix = text[start:offset].rstrip()
    cut = len(prefix) - len("BEGIN")
    if cut < 0 or prefix[cut:].upper() != "BEGIN":
        return False
    return cut == 0 or not _is_identifier(prefix[cut - 1])


class _Ready(_State):
    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        if r == "$":
            return _Tag(end - 1)
        if r in "'\"":
            return _Quote(r)
        if r == "-":
            return _Comment()
        if r == "/":
            return _Block()
        if r == "\\":
            return _Escape()
        if r == ";":
            return None
        if r == "(":
            return _Atomic(self, ")")
        if r in "cC" and _is_begin_atomic(text, start, end):
            return _Atomic(self, "END")
        return self


class _Comment(_State):
    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        if r == "-":
            return _Dollar("\n")  # nothing is escaped in a comment, as in a dollar quote
        return _Ready().next(r, text, start, end)


class _Block(_State):
    def __init__(self) -> None:
        self.depth = 0

    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        window = text[max(start, end - 2) : end]
        if window == "/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(r, text, start, end)
        if window == "*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote(_State):
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.escape = False

    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        if self.escape:
            if r == self.delimiter:  # a doubled quote
                self.escape = False
                return self
            return _Ready().next(r, text, start, end)
        if r == self.delimiter:
            self.escape = True
        return self


class _Dollar(_State):
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        if text[max(start, end - len(self.delimiter)) : end] == self.delimiter:
            return _Ready()
        return self


class _Tag(_State):
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        if r == "$":
            return _Dollar(text[self.offset : end])
        if r.isalpha() or r.isdigit() or r == "_":
            return self
        return _Ready().next(r, text, start, end)


class _Escape(_State):
    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        return _Ready()


class _Atomic(_State):
    def __init__(self, prev: _State, delimiter: str) -> None:
        self.prev = prev
        self.delimiter = delimiter

    def next(self, r: str, text: str, start: int, end: int) -> _State | None:
        current = self.prev.next(r, text, start, end)
        if current is not None:  # a `;` inside does not end the statement
            self.prev = current
        if isinstance(self.prev, _Ready):
            window = text[max(start, end - len(self.delimiter)) : end]
            if window.upper() == self.delimiter.upper():
                return _Ready()
        return self


def split(sql: str, *transforms: Callable[[str], str]) -> list[str]:
    """pkg/parser/token.go Split: the tokens, each transformed, empty ones dropped."""
    statements: list[str] = []

    def emit(token: str) -> None:
        for transform in transforms:
            token = transform(token)
        if token:
            statements.append(token)

    state: _State = _Ready()
    start = 0
    for i, r in enumerate(sql):
        following = state.next(r, sql, start, i + 1)
        if following is None:
            emit(sql[start : i + 1])
            start, state = i + 1, _Ready()
        else:
            state = following
    if start < len(sql):
        emit(sql[start:])
    return statements


def split_and_trim(sql: str) -> list[str]:
    """pkg/parser/token.go SplitAndTrim: `;` trimmed off the right, then whitespace."""
    return split(sql, lambda token: token.rstrip(";"), str.strip)


# internal/db/push, internal/migration/up, pkg/migration -------------------------------------


def local_migrations(directory: Path) -> list[Path]:
    found = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        if _FILE.match(path.name):
            found.append(path)
    return found


def remote_versions(conn: psycopg.Connection) -> list[str]:
    try:
        with conn.transaction():
            return [v for (v,) in conn.execute(LIST_MIGRATION_VERSION).fetchall()]
    except psycopg.errors.UndefinedTable:
        return []  # no history table: the remote project has no migrations


def find_pending(local: list[Path], remote: list[str]) -> list[Path]:
    unapplied: list[Path] = []
    missing: list[str] = []
    i = j = 0
    while i < len(remote) and j < len(local):
        match = _FILE.match(local[j].name)
        assert match is not None
        version = match.group(1)
        if remote[i] == version:
            i += 1
            j += 1
        elif remote[i] < version:
            missing.append(remote[i])
            i += 1
        else:
            unapplied.append(local[j])
            j += 1
    if j == len(local):
        missing += remote[i:]
    if missing:
        raise PushFailed(
            "Remote migration versions not found in local migrations directory. "
            + " ".join(missing)
        )
    if unapplied:
        raise PushFailed(
            "Found local migration files to be inserted before the last migration on remote "
            "database. " + " ".join(p.name for p in unapplied)
        )
    return local[len(remote) :]


def db_push(url: str, directory: Path) -> PushResult:
    """`supabase db push --db-url URL` with `directory` as supabase/migrations (answering yes)."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        pending = find_pending(local_migrations(directory), remote_versions(conn))
        if not pending:
            return PushResult([], "Remote database is up to date.")
        with conn.pipeline():
            for statement in CREATE_MIGRATION_TABLE:
                conn.execute(statement)
        applied: list[str] = []
        for path in pending:
            conn.execute("RESET ALL")
            match = _FILE.match(path.name)
            assert match is not None
            statements = split_and_trim(path.read_text(encoding="utf-8"))
            try:
                with conn.pipeline():
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        INSERT_MIGRATION_VERSION, (match.group(1), match.group(2), statements)
                    )
            except psycopg.Error as exc:
                raise PushFailed(
                    f"ERROR: {exc.diag.message_primary} (SQLSTATE {exc.diag.sqlstate}) "
                    f"applying {path.name}"
                ) from None
            applied.append(path.name)
        return PushResult(applied, "Finished supabase db push.")
