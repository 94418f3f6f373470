"""Nothing the product does stays on a pooled server connection: no setting reaches the
pooler's other clients, no prepared statement is looked for on another server connection,
and a limit the role (or the database, or the connection string) sets is kept as it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from core.store import postgres_store
from core.store.postgres import STATEMENT_BOUND, PostgresTransport, direct_connection
from tests.support.harness import cli
from tests.support.pgbouncer import POOL_SIZE

# What pgbouncer itself keeps per client (it sets them on the server connection it hands
# out): a session value of any other setting was left there by a client.
POOLER_TRACKED = {
    "application_name",
    "client_encoding",
    "datestyle",
    "timezone",
    "standard_conforming_strings",
}

SETTING_PROBE = (
    "CREATE FUNCTION pooler_test_setting(p_name text) RETURNS text LANGUAGE sql "
    "AS $$ SELECT current_setting(p_name) $$"
)


@contextmanager
def every_server_connection(pooled_url: str) -> Iterator[list[psycopg.Connection]]:
    """As many clients as the pool has server connections, each inside a transaction: no two
    can share one, so between them they hold every server connection of the pool."""
    with ExitStack() as stack:
        clients = []
        for _ in range(POOL_SIZE):
            conn = stack.enter_context(
                psycopg.connect(pooled_url, application_name="another-client")
            )
            conn.execute("SELECT 1")  # opens the transaction: the server connection is held
            clients.append(conn)
        yield clients


def session_settings(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT lower(name), setting FROM pg_settings WHERE source = 'session'"
    ).fetchall()
    return dict(rows)


async def test_no_setting_reaches_another_client_of_the_pooler(
    pooled_url: str, pooled_env: dict[str, str]
) -> None:
    store = await postgres_store(pooled_url, max_size=4)
    try:
        for _ in range(12):
            await store.work_summary(only=[])
    finally:
        await store.close()
    for command in ("migrate", "stats"):
        run = cli(pooled_env, command)
        assert run.returncode == 0, run.stderr
    with every_server_connection(pooled_url) as clients:
        for conn in clients:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
            assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("0",)
            assert conn.execute("SHOW application_name").fetchone() == ("another-client",)
            assert set(session_settings(conn)) <= POOLER_TRACKED, session_settings(conn)


async def test_each_call_is_bounded_for_its_own_transaction_only(
    pooled_url: str, db: psycopg.Connection
) -> None:
    """Where nothing sets a limit, the product's bound is in force during each call (through
    the pooler, on whichever server connection it runs) and gone after it."""
    db.execute(SETTING_PROBE)
    transport = await PostgresTransport.connect(pooled_url, max_size=2)
    try:
        for _ in range(8):
            seen = await transport.value("pooler_test_setting", {"p_name": "statement_timeout"})
            assert seen == "2min" == _shown(STATEMENT_BOUND)
    finally:
        await transport.close()
    with every_server_connection(pooled_url) as clients:
        for conn in clients:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)


def _shown(bound: str) -> str:
    """How Postgres shows a `Ns` setting: 120s is `2min`."""
    seconds = int(bound.removesuffix("s"))
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


@pytest.mark.parametrize("limit", ["7s", "10min"])
@pytest.mark.parametrize("via", ["pooler", "direct"])
async def test_a_role_s_own_statement_timeout_is_kept(
    limit: str, via: str, pooled_url: str, database_url: str, db: psycopg.Connection
) -> None:
    """A limit the role has in this database, lower or higher than the product's, is the one
    in force during the product's calls."""
    db.execute(SETTING_PROBE)
    dbname = db.info.dbname
    db.execute(f"ALTER ROLE CURRENT_USER IN DATABASE {dbname} SET statement_timeout = '{limit}'")
    url = pooled_url if via == "pooler" else database_url
    transport = await PostgresTransport.connect(url, max_size=2)
    try:
        seen = await transport.value("pooler_test_setting", {"p_name": "statement_timeout"})
    finally:
        await transport.close()
    assert seen == limit


async def test_the_connection_string_s_statement_timeout_is_kept(
    database_url: str, db: psycopg.Connection
) -> None:
    db.execute(SETTING_PROBE)
    url = make_conninfo(database_url, options="-c statement_timeout=5s")
    transport = await PostgresTransport.connect(url, max_size=2)
    try:
        seen = await transport.value("pooler_test_setting", {"p_name": "statement_timeout"})
    finally:
        await transport.close()
    assert seen == "5s"


RUNS = 8  # psycopg would prepare a query at its sixth run


@contextmanager
def held_one_by_one(pooled_url: str) -> Iterator[Callable[[], None]]:
    """`hold()` takes the server connection the pooler would hand out next (the one used
    last: pgbouncer reuses the last one freed) and keeps it until the block ends."""
    with ExitStack() as stack:

        def hold() -> None:
            stack.enter_context(psycopg.connect(pooled_url)).execute("SELECT 1")

        yield hold


async def test_a_query_run_again_and_again_each_time_on_another_server_connection(
    pooled_url: str, db: psycopg.Connection
) -> None:
    """psycopg prepares a query it runs a sixth time, on the server connection of that
    moment; through a transaction pooler the next run may be on another, where no such
    statement exists. Here each run lands on another server connection (the backend pids
    say so), for the pool's calls and for a direct connection (what `migrate` uses)."""
    assert RUNS < POOL_SIZE
    db.execute("CREATE FUNCTION pooler_test_backend() RETURNS int LANGUAGE sql "
               "AS $$ SELECT pg_backend_pid() $$")  # fmt: skip
    transport = await PostgresTransport.connect(pooled_url, max_size=1)
    try:
        with held_one_by_one(pooled_url) as hold:
            pids = []
            for _ in range(RUNS):
                pids.append(await transport.value("pooler_test_backend", {}))
                hold()
    finally:
        await transport.close()
    assert len(set(pids)) == RUNS
    with (
        direct_connection(pooled_url, autocommit=True) as direct,
        held_one_by_one(pooled_url) as hold,
    ):
        pids = []
        for _ in range(RUNS):
            pids.append(direct.execute("SELECT pooler_test_backend()").fetchone()[0])
            hold()
    assert len(set(pids)) == RUNS
