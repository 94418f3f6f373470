"""A real pgbouncer in transaction mode per test session (tests/support/pgbouncer.py), in
front of the session's Postgres; `pooled_url` is this test's database through it.

Without pgbouncer these tests skip with how to enable them; with `CI` set they fail instead,
so CI cannot pass without them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgbouncer import HOW_TO_ENABLE, PgBouncer, Unavailable


def _started(admin_url: str, workdir: Path, pool_mode: str) -> Iterator[PgBouncer]:
    try:
        pooler = PgBouncer(admin_url, workdir, pool_mode=pool_mode).start()
    except Unavailable as exc:
        message = f"pgbouncer is unavailable ({exc}): the pooler tests {HOW_TO_ENABLE}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield pooler
    finally:
        pooler.stop()


@pytest.fixture(scope="session")
def pgbouncer(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBouncer]:
    """pgbouncer in transaction mode (Supabase's port 6543)."""
    yield from _started(pg_admin_url, tmp_path_factory.mktemp("pgbouncer"), "transaction")


@pytest.fixture(scope="session")
def session_pooler(
    pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PgBouncer]:
    """pgbouncer in session mode (a pooler's port 5432)."""
    yield from _started(pg_admin_url, tmp_path_factory.mktemp("pgbouncer-session"), "session")


@pytest.fixture
def pooled_url(pgbouncer: PgBouncer, database_url: str) -> str:
    """This test's database through the pooler."""
    return pgbouncer.url(database_url)


@pytest.fixture
def pooled_env(pooled_url: str, cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`backfill-console` run against this test's database through the pooler."""
    return {**cli_env, "DATABASE_URL": pooled_url}
