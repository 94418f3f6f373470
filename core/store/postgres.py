"""The psycopg 3 transport: named calls of the SQL functions on an async connection pool.

Also what `migrate` needs (DDL), which only a direct connection can run.

Every connection works through a pooler in transaction mode (pgbouncer's `pool_mode =
transaction`, Supabase's pooler on port 6543), where each transaction may run on another
server connection and whatever a session leaves behind is seen by the pooler's other clients.
So nothing here keeps state in a session: no `SET` (the statement bound is set per call, for
its transaction only), no server-side prepared statements (`prepare_threshold=None`: psycopg
would otherwise prepare a query run five times, and the next transaction, on another server
connection, would not find it), the application name as a startup parameter (which poolers
keep per client), and the migration lock held by each migration's transaction
(core/store/migrations.py).
"""

from __future__ import annotations

import logging
import os
import re
import select
from collections.abc import Mapping
from functools import cache
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.errors import (
    ConnectionDropped,
    ServerNotListening,
    StoreUnavailable,
    side_failure_level,
)
from core.secrets import redact_password
from core.store import migrations
from core.store.refusals import check_server, refusal
from core.store.transport import Json

_POOL_LOG = logging.getLogger("psycopg.pool")

# What every connection the product opens is given: no server-side prepared statements, the
# name `pg_stat_activity` shows unless the URL or PGAPPNAME names one, and UTF-8 text both
# ways. `client_encoding` as a startup parameter outranks the server's, the database's and the
# role's default (`ALTER DATABASE ... SET client_encoding`) and PGCLIENTENCODING, and poolers
# keep it per client; any other encoding would garble or refuse GitHub's Unicode text.
SESSIONLESS: dict[str, Any] = {
    "prepare_threshold": None,
    "fallback_application_name": "backfill-console",
    "client_encoding": "UTF8",
}

# The bound on any one call's statement where the server, the database, the role and the
# connection string set none (statement_timeout 0): recovery and commits are small. A limit
# set in any of those places, lower or higher, is kept as it is. No idle-in-transaction bound:
# each call is one implicit transaction, and none stays open between round trips.
STATEMENT_BOUND = "120s"
_SESSION_LIMIT = "SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout'"


@cache
def _bounded(query: str, bound: str | None) -> str:
    if bound is None:
        return query
    return f"SELECT set_config('statement_timeout', '{bound}', true); {query}"


def direct_connection(conninfo: str, **kwargs: Any) -> psycopg.Connection:
    """A connection outside the pool (migrations, their check), as sessionless as the pool's."""
    return psycopg.connect(conninfo, **SESSIONLESS, **kwargs)


# libpq's own words for each address it tried: `connection to server at "HOST", port N
# failed: REASON` or `connection to server on socket "PATH" failed: REASON`.
_LIBPQ_TARGET = re.compile(
    r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)|'
    r'on socket "(?P<socket>[^"]*)") failed: (?P<reason>.*)'
)


def connection_target(conninfo: str, message: str = "") -> str:
    """Where a connection was tried: `host:port` (each, when several) or the socket path,
    as libpq reports it, else from the connection string and PGHOST/PGPORT. Never the
    password (only host, port and socket path are read)."""
    tried = []
    for match in _LIBPQ_TARGET.finditer(message):
        where = match["socket"] or f"{match['host']}:{match['port']}"
        if where not in tried:
            tried.append(where)
    if tried:
        return ", ".join(tried)
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        params = {}
    hosts = str(params.get("host") or os.environ.get("PGHOST") or "").split(",")
    ports = str(params.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    out = []
    for i, host in enumerate(hosts):
        port = ports[i] if i < len(ports) else ports[-1]
        if not host:
            out.append(f"the local socket (port {port}; no host given)")
        elif host.startswith("/"):
            out.append(f"{host}/.s.PGSQL.{port}")
        else:
            out.append(f"{host}:{port}")
    return ", ".join(out)


# How libpq and the server say a session was ended, or a connection refused for now, rather
# than refused for good: SQLSTATE 57P01-57P03 (admin_shutdown, crash_shutdown,
# cannot_connect_now) or 53300 (too_many_connections) when a result carries one. A connection
# attempt's error carries no SQLSTATE (libpq gives it only the server's words), so the words
# of each are listed too, as PostgreSQL's postmaster and libpq write them.
_DROPPED_STATES = ("57P01", "57P02", "57P03", "53300")
_DROPPED_WORDS = (
    "terminating connection due to administrator command",  # 57P01: a stop, a terminate
    "terminating connection because of crash of another server process",  # 57P02
    "the database system is shutting down",  # 57P03 ...
    "the database system is starting up",
    "the database system is in recovery mode",  # ... after another backend crashed
    "the database system is not yet accepting connections",  # ... a standby catching up
    "the database system is not accepting connections",  # ... a standby, hot standby off
    "too many clients already",  # 53300: max_connections reached
    "remaining connection slots are reserved",  # 53300: only the reserved slots are left
    "too many connections for",  # 53300: a role's or a database's CONNECTION LIMIT
    "server closed the connection unexpectedly",  # libpq: the socket closed mid-session
    "could not receive data from server",  # libpq: reset by peer, timed out mid-session
    "could not send data to server",  # libpq: broken pipe
    "ssl syscall error",  # libpq over TLS: EOF or a reset where a record was due
    "ssl connection has been closed unexpectedly",
    "consuming input failed",  # psycopg's words for the same
    "the connection is lost",
)
# The server's words for 53300 (a connection attempt carries no SQLSTATE): every slot taken.
_NO_SLOTS_WORDS = (
    "too many clients already",
    "remaining connection slots are reserved",
    "too many connections for",
)
# libpq's words when nothing listens at the address: refused (TCP) or no socket file.
_NOT_LISTENING_WORDS = ("connection refused", "no such file or directory")


def connection_dropped(exc: BaseException) -> bool:
    """Whether `exc` is a session the server ended (what a Postgres restart, a failover or
    pg_terminate_backend does) or a connection it refused for now (shutting down, starting
    up, in recovery, out of connection slots), rather than a refusal that trying again
    cannot change (a wrong password, host or database name, a TLS setting the server does
    not take)."""
    if isinstance(exc, ConnectionDropped):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if exc.sqlstate in _DROPPED_STATES:
        return True
    text = str(exc).lower()
    return any(words in text for words in _DROPPED_WORDS)


def server_not_listening(exc: BaseException) -> bool:
    """Whether nothing answered at the address (`ServerNotListening`): connection refused, or
    no socket file. A wrong host or port, or a server between its stop and its start."""
    if isinstance(exc, ServerNotListening):
        return True
    if not isinstance(exc, psycopg.OperationalError) or connection_dropped(exc):
        return False
    text = str(exc).lower()
    return any(words in text for words in _NOT_LISTENING_WORDS)


def describe_connect_error(exc: Exception, setting: str, conninfo: str) -> str:
    """One line on why a connection failed, naming where it was tried (host:port or socket
    path). libpq echoes hosts, and with an unencoded `@` in the password part of the password
    is taken for the host: every trace of it is masked."""
    if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
        text = str(exc).strip()
        found = _LIBPQ_TARGET.search(text)
        if found is not None:
            reason = found["reason"].strip()
            hint = text.splitlines()[-1].strip()
            if hint and hint not in reason and hint != text.splitlines()[0].strip():
                reason = f"{reason} ({hint})"
        else:
            # libpq indents a message's continuation lines ("\tThis probably means ...").
            lines = [line for line in text.splitlines() if line and not line[0].isspace()]
            reason = lines[-1].strip() if lines else "connection failed"
        where = connection_target(conninfo, text)
        if isinstance(exc, psycopg.Error) and (
            exc.sqlstate == "53300" or any(words in text.lower() for words in _NO_SLOTS_WORDS)
        ):
            reason = f"the database has no free connection slots (53300: {reason})"
        return redact_password(
            f"cannot connect to the database given by {setting} at {where}: {reason}", conninfo
        )
    return f"{setting} is not a valid PostgreSQL connection URL"


def unavailable(exc: Exception, setting: str, conninfo: str) -> StoreUnavailable:
    """`describe_connect_error`'s line as the error to raise: `ConnectionDropped` when the
    server ended the session or refused it for now (worth trying again), `ServerNotListening`
    when nothing answered (worth trying again only during a restart), else
    `StoreUnavailable`."""
    kind: type[StoreUnavailable] = StoreUnavailable
    if connection_dropped(exc):
        kind = ConnectionDropped
    elif server_not_listening(exc):
        kind = ServerNotListening
    return kind(describe_connect_error(exc, setting, conninfo))


def _ended_while_idle(conn: psycopg.AsyncConnection) -> bool:
    """Whether the server ended this pooled connection while it sat idle (a restart, a
    failover, pg_terminate_backend, idle_session_timeout): an idle connection has nothing to
    read unless the server sent it something, in practice its FATAL error before closing. No
    round trip: a poll of the socket."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
    except psycopg.Error:  # closed already
        return True
    return bool(poller.poll(0))


class _RedactPassword(logging.Filter):
    """psycopg's pool logs libpq's reconnect failures (hosts included): mask the password."""

    def __init__(self, conninfo: str) -> None:
        super().__init__()
        self._conninfo = conninfo

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_password(record.getMessage(), self._conninfo), None
        return True


class _RefusedCancellation(logging.Filter):
    """A query cancelled (a worker stopping on a refusal cancels its other slots' calls) that
    the database refused meanwhile: psycopg logs "query cancellation interrupted
    (ReadOnlySqlTransaction): closing connection" and the pool then "discarding closed
    connection". Both are the refusal the command already says in its one line: they are
    logged at `side_failure_level`, as a refused side write is."""

    def __init__(self) -> None:
        super().__init__()
        self._closed = 0  # connections closed that way, not yet discarded by the pool

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "query cancellation interrupted (%s): closing connection":
            args = record.args if isinstance(record.args, tuple) else ("",)
            error = getattr(psycopg.errors, str(args[0]), None)
            if isinstance(error, type) and issubclass(error, psycopg.Error):
                refused = refusal(error(""))
                if refused is not None and side_failure_level(refused) < record.levelno:
                    self._closed += 1
                    self._lower(record, side_failure_level(refused))
        elif self._closed and record.getMessage().startswith("discarding closed connection"):
            self._closed -= 1
            self._lower(record, logging.DEBUG)
        return record.levelno >= logging.getLogger(record.name).getEffectiveLevel()

    @staticmethod
    def _lower(record: logging.LogRecord, level: int) -> None:
        record.levelno, record.levelname = level, logging.getLevelName(level)


_REFUSED_CANCELLATION = _RefusedCancellation()
logging.getLogger("psycopg").addFilter(_REFUSED_CANCELLATION)
_POOL_LOG.addFilter(_REFUSED_CANCELLATION)


@cache
def _call(function: str, names: tuple[str, ...], *, table: bool, limit: bool) -> str:
    """`SELECT [* FROM] fn(p_a => %(p_a)s, ...) [LIMIT %(limit)s]`, composed once per shape.

    Rendered to text once: a `Composed` is re-rendered on every execute, which cost ~20% of
    `get_next_chunk_number`'s throughput in bench_store."""
    call = sql.SQL("{}({})").format(
        sql.Identifier(function),
        sql.SQL(", ").join(
            sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in names
        ),
    )
    query = sql.SQL("SELECT * FROM {}" if table else "SELECT {}").format(call)
    if limit:
        query += sql.SQL(" LIMIT {}").format(sql.Placeholder("__limit"))
    return query.as_string(None)


def _encode(args: Mapping[str, Any]) -> dict[str, Any]:
    # jsonb goes as its JSON text; psycopg adapts everything else itself.
    return {name: v.text if isinstance(v, Json) else v for name, v in args.items()}


class PostgresTransport:
    """`Transport` over a psycopg pool (autocommit: each call is its function's transaction)."""

    def __init__(
        self, pool: AsyncConnectionPool, conninfo: str, *, statement_bound: str | None = None
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        # Sent with each call, for its own transaction, when the server sets no limit.
        self._statement_bound = statement_bound
        self._redact = _RedactPassword(conninfo)
        _POOL_LOG.addFilter(self._redact)

    @classmethod
    async def connect(
        cls, conninfo: str, *, setting: str = "DATABASE_URL", max_size: int = 10
    ) -> PostgresTransport:
        """A pool on `conninfo`, after one direct attempt that says why it cannot connect.

        Raises `StoreUnavailable` naming `setting` (never the URL: it may hold a password).
        """
        try:
            psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.Error:
            raise StoreUnavailable(
                f"{setting} is not a valid PostgreSQL connection URL "
                "(expected postgresql://user:password@host:port/database)"
            ) from None
        # One direct attempt first: the pool would retry quietly and only say "timeout".
        try:
            probe = await psycopg.AsyncConnection.connect(
                conninfo, connect_timeout=10, autocommit=True, **SESSIONLESS
            )
        except psycopg.Error as exc:
            raise unavailable(exc, setting, conninfo) from None
        try:  # a server too old, or a database not UTF-8: refused before anything is written
            check_server(probe.info)
            limit = await (await probe.execute(_SESSION_LIMIT)).fetchone()
        except psycopg.Error as exc:
            raise unavailable(exc, setting, conninfo) from None
        finally:
            await probe.close()

        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, **SESSIONLESS},
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            if isinstance(exc, psycopg_pool.PoolTimeout):
                # The server took the probe a moment ago and then none of the pool's
                # connections for 15 s: it went down meanwhile (the pool logged why).
                raise ConnectionDropped(describe_connect_error(exc, setting, conninfo)) from None
            raise unavailable(exc, setting, conninfo) from None
        # `reset_val`: what a session starts with (the server's configuration, the database's
        # and the role's settings, the connection string's options), never a session's `SET`.
        unbounded = limit is None or limit[0] == "0"
        return cls(pool, conninfo, statement_bound=STATEMENT_BOUND if unbounded else None)

    async def close(self) -> None:
        try:
            await self._pool.close()
        finally:
            _POOL_LOG.removeFilter(self._redact)

    async def _execute(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One call on a pooled connection. A connection the server ended while it sat in the
        pool is closed (the pool replaces it) and the next one taken, at once, up to the
        pool's size: a worker's connections sit idle while it waits on GitHub, and after a
        restart its commit was handed a dead one and the page it had paid for was fetched
        again. (The pool's own `check` hook was tried: on a check that fails it backs off 1,
        2, 4 ... s, and while sessions kept being ended every connection died during those
        sleeps: calls waited out the pool's 30 s timeout.)"""
        try:
            for tries_left in range(self._pool.max_size, -1, -1):
                async with self._pool.connection() as conn:
                    if tries_left and _ended_while_idle(conn):
                        await conn.close()
                        continue
                    return await self._run(conn, query, params)
            raise AssertionError("unreachable: the last try runs the statement")
        except psycopg.OperationalError as exc:  # libpq's words, hosts included: masked
            raise type(exc)(redact_password(str(exc), self._conninfo)) from None

    async def _run(
        self, conn: psycopg.AsyncConnection, query: str, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The call, with the statement bound (when there is one) set ahead of it in the
        same query string: one round trip, one implicit transaction, so the bound covers
        this call's statement (the server arms the timeout afresh for each statement of a
        string) and is gone when it commits, whichever server connection a pooler gave.
        Several statements in one string need the parameters bound client-side (psycopg
        quotes them): every call takes that one path, bound or not. (A pipeline of two
        server-bound statements did the same at 45% fewer calls per second.)"""
        cur = psycopg.AsyncClientCursor(conn, row_factory=dict_row)
        await cur.execute(_bounded(query, self._statement_bound), params)
        if self._statement_bound is not None:
            cur.nextset()
        return await cur.fetchall()

    async def rows(
        self, function: str, args: Mapping[str, Any], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        params = _encode(args)
        if limit is not None:
            params["__limit"] = limit
        query = _call(function, tuple(args), table=True, limit=limit is not None)
        return await self._execute(query, params)

    async def value(self, function: str, args: Mapping[str, Any]) -> Any:
        rows = await self._execute(
            _call(function, tuple(args), table=False, limit=False), _encode(args)
        )
        return next(iter(rows[0].values()))

    # Schema: DDL needs a direct connection ---------------------------------------------------

    def migrate(self) -> list[migrations.Migration]:
        with direct_connection(self._conninfo) as conn:
            return migrations.apply(conn)

    def pending_migrations(self) -> list[migrations.Migration]:
        with direct_connection(self._conninfo) as conn:
            return migrations.pending(conn)
