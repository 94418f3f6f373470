"""The store's contract, once for both transports.

Every test in this folder (not its subfolders) that asks for `store` runs twice: through
psycopg on the test Postgres, and through the real PostgREST binary (the Supabase stack of
tests/store/supabase) on a Supabase-like copy of the same schema, with `db` looking at the very
database either one writes. A test marked `psycopg_only` exercises psycopg's own connections
(a backend killed mid-statement) and runs once. Tests that ask for no store run once, on
psycopg's database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from core.store import Store, postgres_store, supabase_store
from tests.support.databases import database_for_transport

TRANSPORTS = ("psycopg", "postgrest")
HERE = Path(__file__).parent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The contract is this folder's own files; the subfolders (supabase, pooler, refusals,
    # migrations) choose their database themselves and run once.
    if metafunc.definition.path.parent != HERE:
        return
    if "store" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("psycopg_only")
        metafunc.parametrize("transport", ["psycopg"] if only else list(TRANSPORTS))


@pytest.fixture
def transport() -> str:
    """Which wire the test's store uses (parametrized for tests that ask for `store`)."""
    return "psycopg"


@pytest.fixture
def database_url(
    transport: str, pg_admin_url: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    yield from database_for_transport(pg_admin_url, transport, request)


@pytest.fixture
async def connect_store(
    transport: str, database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    """Opens stores on this test's database through its transport; all closed afterwards."""
    opened: list[Store] = []
    stack = (
        request.getfixturevalue("supabase_for")(database_url) if transport != "psycopg" else None
    )

    async def connect(max_size: int = 20) -> Store:
        if stack is None:
            store = await postgres_store(database_url, max_size=max_size)
        else:
            store = await supabase_store(stack.url, stack.service_key, max_connections=max_size)
        opened.append(store)
        return store

    try:
        yield connect
    finally:
        for store in opened:
            await store.close()


@pytest.fixture
async def store(connect_store: Callable[..., Awaitable[Store]]) -> Store:
    return await connect_store()
