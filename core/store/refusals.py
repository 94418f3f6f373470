"""Databases that say no: the one rule that turns the database's refusals into one line and a
documented exit status, for every command, the worker and the console.

Two kinds of "no", told apart by SQLSTATE (psycopg's, or PostgREST's mapped to psycopg's
classes by core/store/supabase_errors.py):

- refused for good (`DatabaseRefused`, exit 4), until someone changes the database: writes
  in a read-only database (25006: a replica, or `default_transaction_read_only` on; 55000
  "recovery is in progress" on a hot standby), and, checked once per connection from what the
  server reports when it accepts one (no round trip), a server older than PostgreSQL 15 or a
  database whose encoding is not UTF8;
- busy for now (`DatabaseBusy`, exit 75): a lock not granted within `lock_timeout` (55P03) or
  a statement cancelled by `statement_timeout` (57014). Workers retry those with backoff, a
  bounded number of times in a row (core/backfill/worker.py).

Why non-UTF-8 databases are refused rather than converted: the product stores GitHub's text
as is (titles, bodies, reviews: any Unicode, emoji included) and compares what it stored
with what it read. LATIN1 and the other single-byte encodings cannot hold most of it (every
such page would be refused PR by PR), and SQL_ASCII stores bytes unchecked and hands them
back undecoded (psycopg returns `bytes` there). Only a UTF-8 database stores what GitHub
sends; the line says how to create one.
"""

from __future__ import annotations

import psycopg

from core.errors import (
    BackfillError,
    DatabaseBusy,
    DatabaseReadOnly,
    DatabaseRefused,
    DatabaseUnsupported,
)

# The oldest PostgreSQL the product supports (README: "PostgreSQL 15+"), as
# `server_version_num` writes it.
MIN_SERVER_VERSION = 150000
SERVER_ENCODING = "UTF8"

READ_ONLY_STATES = frozenset({"25006"})  # read_only_sql_transaction
# A hot standby refuses some writes before the read-only check: "... while recovery is in
# progress" (object_not_in_prerequisite_state, which other errors share: matched by words).
RECOVERY_STATE, RECOVERY_WORDS = "55000", "recovery is in progress"
LOCK_TIMEOUT_STATE = "55P03"  # lock_not_available
STATEMENT_TIMEOUT_STATE = "57014"  # query_canceled


def _server_words(exc: BaseException) -> str:
    """The server's primary message, without its CONTEXT lines (which quote SQL)."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None)
    text = (primary or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def refusal(exc: BaseException) -> BackfillError | None:
    """The one-line error a refusal of the database stands for, or None when `exc` is not
    one (a bug, a dropped connection, a constraint: their own handlers decide)."""
    if isinstance(exc, DatabaseBusy | DatabaseRefused):
        return exc
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate
    words = _server_words(exc)
    if state in READ_ONLY_STATES or (state == RECOVERY_STATE and RECOVERY_WORDS in words):
        return DatabaseReadOnly(
            f"the database is read-only ({state}: {words}): it is a replica, or "
            "default_transaction_read_only is on; point the connection at the primary, or "
            "run `ALTER DATABASE <name> SET default_transaction_read_only = off`, and run "
            "the command again"
        )
    if state == LOCK_TIMEOUT_STATE:
        return DatabaseBusy(
            f"the database gave up waiting for a lock ({state}, lock_timeout: {words}): "
            "another session holds it (another `recover`, a migration, a long transaction); "
            "run the command again once it is done"
        )
    if state == STATEMENT_TIMEOUT_STATE:
        return DatabaseBusy(
            f"the database cancelled a statement ({state}: {words}): statement_timeout is "
            "shorter than this step took, or an administrator cancelled it; run the command "
            "again, or raise the role's statement_timeout"
        )
    return None


def raise_refusal(exc: BaseException) -> None:
    """Raise `refusal(exc)` when `exc` is one (chained to it); otherwise return."""
    refused = refusal(exc)
    if refused is not None and refused is not exc:
        raise refused from exc


def unsupported_server(server_version: int, server_encoding: str) -> str | None:
    """Why a server reporting this `server_version_num` and `server_encoding` cannot hold the
    product's data, or None when it can."""
    if server_version < MIN_SERVER_VERSION:
        major, minor = divmod(server_version, 10000)
        return (
            f"the database server runs PostgreSQL {major}.{minor}; backfill-console needs "
            f"PostgreSQL {MIN_SERVER_VERSION // 10000} or newer: upgrade it, or point the "
            "connection at a newer server"
        )
    if server_encoding.upper() != SERVER_ENCODING:
        return (
            f"the database's encoding is {server_encoding}, not UTF8, and GitHub's text is "
            "Unicode: create a UTF-8 database (`CREATE DATABASE <name> ENCODING 'UTF8' "
            "TEMPLATE template0`) and point the connection at it; nothing was written"
        )
    return None


def check_server(info: psycopg.ConnectionInfo) -> None:
    """Refuse (`DatabaseUnsupported`) a server the product cannot use, from what it reported
    when it accepted the connection: checked on connecting and before migrating, so nothing
    is written to it."""
    encoding = info.parameter_status("server_encoding") or "unknown"
    why = unsupported_server(info.server_version, encoding)
    if why is not None:
        raise DatabaseUnsupported(why)
