"""Test session fixtures: one real Postgres for the whole session, a fresh database per test.

The server is the product's own embedded Postgres (core/embedded.py: private socket,
scram, as root inside a user namespace), or `TEST_DATABASE_URL`, e.g. a Debian PostgreSQL 15.
Migrations are applied once to a template database; each test gets `CREATE DATABASE ...
TEMPLATE`, which takes milliseconds, so tests never see each other's rows.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from core.embedded import EmbeddedPostgres
from core.store import Store, migrations, postgres_store
from tests.support.databases import create_database, drop_database, with_dbname

# The Supabase-like stack's fixtures (PostgREST on a test database), for every folder.
pytest_plugins = ["tests.support.supabase_plugin"]

# One template per pytest-xdist worker: workers may share a TEST_DATABASE_URL server.
TEMPLATE = f"backfill_test_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`alone` tests first (the order is otherwise kept). Each waits for the test running
    beside it to end, idle meanwhile: late in a run that was one of the slowest tests (the
    pacing test's setup waited 43 s for the installations test); first, it is the other
    worker's first test."""
    items.sort(key=lambda item: item.get_closest_marker("alone") is None)


@pytest.fixture(autouse=True)
def _alone_when_marked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Under pytest-xdist, a test marked `alone` (it measures time, or loads every core) runs
    while no other test does; the others run side by side.

    A turnstile over two flock(2) locks in the run's shared base directory: every test passes
    the gate, then holds `run` shared; an `alone` test holds the gate (so no test starts
    behind it) and takes `run` exclusively (so it waits for the running ones to end). Holding
    the gate keeps a stream of short tests from starving it.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent  # the run's, above each worker's own
    alone = request.node.get_closest_marker("alone") is not None
    with open(shared / "gate.lock", "a") as gate, open(shared / "run.lock", "a") as run:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(run, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield


@pytest.fixture(scope="session")
def full_size(request: pytest.FixtureRequest) -> bool:
    """True when the run selects the reliability suite (`-m reliability`, what CI runs three
    times after the full suite): the crash and chaos tests then run at full size (more kill
    rounds, more pull requests). The default run keeps a smaller version of each, asserting the
    same end state in the database, so the whole suite stays under ten minutes on two cores.

    One rule for every sized test: the size is chosen here, never by a test's own flag.
    """
    return "reliability" in (request.config.getoption("markexpr") or "")


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A superuser URL on a real server, for creating test databases."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield server.acquire()
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> str:
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(with_dbname(pg_admin_url, TEMPLATE)) as conn:
        migrations.apply(conn)
    return TEMPLATE


@pytest.fixture
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A freshly migrated database of its own for this test."""
    url = create_database(pg_admin_url, template_db)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    url = create_database(pg_admin_url, None)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection for arranging and inspecting rows."""
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await postgres_store(database_url, max_size=20)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running `backfill-console` as a subprocess against this test's database.

    Runs in an empty directory so no developer `.env` leaks in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "VITE_", "GITHUB"))}
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return env
