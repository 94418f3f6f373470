"""Fixtures for the Supabase transport: a local Supabase-like stack per test (see stack.py).

A template database is prepared once per session the way a Supabase project starts (API roles,
Supabase's default privileges) and migrated; each test gets its own copy of it with its own
PostgREST (it starts in ~0.1 s) and `/rest/v1` proxy. The root conftest's `database_url`,
`db`, `store` and `cli_env` are overridden here, so tests written for the psycopg store run
unchanged against `Store`, with `db` looking at the very database PostgREST serves.
The stack's own fixtures live in plugin.py, so other folders can load them too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from core.store import Store, supabase_store
from tests.support.supabase_stack import SupabaseStack


@pytest.fixture
def database_url(pg_admin_url: str, supabase_template: str) -> Iterator[str]:
    """A fresh copy of the Supabase-like template for this test."""
    name = f"s_{os.urandom(6).hex()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(supabase_template)
            )
        )
    try:
        yield make_conninfo(pg_admin_url, dbname=name)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def supabase(database_url: str, supabase_for: Callable[[str], SupabaseStack]) -> SupabaseStack:
    return supabase_for(database_url)


@pytest.fixture
async def store(supabase: SupabaseStack) -> AsyncIterator[Store]:
    s = await supabase_store(supabase.url, supabase.service_key, max_connections=20)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def cli_env(supabase: SupabaseStack, tmp_path: Path) -> dict[str, str]:
    """`backfill-console` configured as the spec's users configure it: REST credentials only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPABASE", "VITE_", "GITHUB", "DATABASE_URL"))
    }
    env.update(
        VITE_SUPABASE_URL=supabase.url,
        SUPABASE_SERVICE_KEY=supabase.service_key,
        BACKFILL_DATA_DIR=str(tmp_path / "data"),
    )
    return env
