"""The Supabase-like stack as pytest fixtures, for this folder and for any other that wants it.

tests/store/supabase/conftest.py uses them directly. To run other tests (the engine's) through the
Supabase transport too, load this module from the root conftest
(`pytest_plugins = ["tests.support.supabase_plugin"]`) and ask for `supabase_for`:

    @pytest.fixture(params=["postgres", "supabase"])
    async def store(request, database_url, supabase_for):
        if request.param == "supabase":
            stack = supabase_for(database_url)  # PostgREST on this test's database
            s = await supabase_store(stack.url, stack.service_key)
        ...

Subprocesses get `VITE_SUPABASE_URL=stack.url` and `SUPABASE_SERVICE_KEY=stack.service_key`.
Without npm (and no POSTGREST_BIN) these fixtures skip with how to enable them; with `CI`
set they fail instead, so CI cannot pass without them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.supabase_stack import (
    HOW_TO_ENABLE,
    SupabaseStack,
    Unavailable,
    ensure_roles,
    postgrest_binary,
    prepare_database,
)

TEMPLATE = f"backfill_supabase_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(scope="session")
def postgrest_bin() -> Path:
    try:
        return postgrest_binary()
    except Unavailable as exc:
        message = f"PostgREST is unavailable ({exc}): the Supabase transport tests {HOW_TO_ENABLE}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def authenticator_password(pg_admin_url: str, postgrest_bin: Path) -> str:
    """The API roles and PostgREST's login role on the session's server (once per session)."""
    return ensure_roles(pg_admin_url)


@pytest.fixture(scope="session")
def supabase_template(pg_admin_url: str, authenticator_password: str) -> str:
    """A database prepared the way a Supabase project starts, then migrated (copied per test)."""
    prepare_database(pg_admin_url, TEMPLATE)
    return TEMPLATE


@pytest.fixture
def supabase_for(
    authenticator_password: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], SupabaseStack]]:
    """Start PostgREST (and the /rest/v1 proxy) on a migrated database; stopped after the test."""
    started: list[SupabaseStack] = []

    def start(database_url: str) -> SupabaseStack:
        workdir = tmp_path_factory.mktemp("postgrest")
        stack = SupabaseStack(database_url, authenticator_password, workdir).start()
        started.append(stack)
        return stack

    try:
        yield start
    finally:
        for stack in started:
            stack.stop()
