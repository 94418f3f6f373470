"""The engine through either store transport: fixtures a folder's conftest takes in.

A test that asks for `engine_settings` runs twice: through psycopg on its own migrated
database, and through the real PostgREST (the Supabase-like stack of
tests/support/supabase_plugin.py) on a copy prepared as a Supabase project starts, with
`database_url` (and so `db`) the very database either one writes. A folder's conftest imports
`transport`, `database_url`, `engine_settings` and calls `parametrize_transports` from its
`pytest_generate_tests` (tests/backfill/conftest.py); the test files import nothing.

Tests that ask for no `engine_settings` run once, on psycopg's database, so a folder can take
these fixtures in without doubling its other tests. A test module that defines its own
`transport` fixture keeps it (its own params, or none).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import Settings, load_settings
from tests.support.databases import database_for_transport
from tests.support.worker_runs import settings

TRANSPORTS = ("psycopg", "postgrest")


def parametrize_transports(metafunc: pytest.Metafunc) -> None:
    """Runs each test that asks for `engine_settings` once per transport (ids `psycopg`,
    `postgrest`), unless its module brings its own `transport` fixture."""
    if "engine_settings" not in metafunc.fixturenames:
        return
    if hasattr(metafunc.module, "transport"):
        return
    metafunc.parametrize("transport", TRANSPORTS)


@pytest.fixture
def transport() -> str:
    """Which wire the store uses: `psycopg` unless parametrized (`parametrize_transports`)."""
    return "psycopg"


@pytest.fixture
def database_url(
    transport: str, pg_admin_url: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """This test's database: migrated for psycopg, prepared as a Supabase project starts for
    PostgREST; dropped afterwards."""
    yield from database_for_transport(pg_admin_url, transport, request)


@pytest.fixture
def engine_settings(transport: str, database_url: str, request: pytest.FixtureRequest) -> Settings:
    """The engine's settings for this test's database through `transport`: the database URL
    for psycopg; the PostgREST stack's URL and service key (started on `database_url`) for
    `postgrest`. GitHub is the simulator either way."""
    if transport == "psycopg":
        return settings(database_url)
    stack = request.getfixturevalue("supabase_for")(database_url)
    return load_settings(
        supabase_url=stack.url,
        supabase_service_key=stack.service_key,
        github_token="simulator-token",
        github_graphql_url="https://sim/graphql",
    )
