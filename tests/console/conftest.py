"""A real engine for the console: this test's database, the simulator over HTTP, and worker
processes started by the console's own keys."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.app import BackfillConsole
from console.backend import Backend
from console.local_workers import LocalWorkers
from core.config import Settings, load_settings
from tests.support.harness import TOKEN, SimServer, simulator

REPOS = ("acme/api:300", "acme/web:120", "acme/tiny:3")


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local time zone is UTC for this test: cells that show a wall-clock time
    ("budget → 14:42") read the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.fixture(scope="session")
def sim() -> Iterator[SimServer]:
    with simulator(REPOS) as server:
        yield server


@pytest.fixture
def worker_env(database_url: str, sim: SimServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "VITE_", "GITHUB"))}
    env.update(
        DATABASE_URL=database_url,
        BACKFILL_DATA_DIR=str(tmp_path / "data"),
        GITHUB_TOKEN=TOKEN,
        GITHUB_GRAPHQL_URL=sim.graphql_url,
        MIN_GRAPHQL_POINTS="0",
    )
    return env


@pytest.fixture
def settings(worker_env: dict[str, str]) -> Settings:
    return load_settings(
        database_url=worker_env["DATABASE_URL"],
        github_token=TOKEN,
        github_graphql_url=worker_env["GITHUB_GRAPHQL_URL"],
        min_graphql_points=0,
        data_dir=worker_env["BACKFILL_DATA_DIR"],
    )


@pytest.fixture
def local_workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[LocalWorkers]:
    workers = LocalWorkers(tmp_path / "logs", env=worker_env)
    yield workers
    workers.stop_all(kill=True)


@pytest.fixture
def make_app(settings: Settings, local_workers: LocalWorkers):
    """The console as users get it, except that the test decides when it polls."""

    def make(**options: object) -> BackfillConsole:
        options.setdefault("local_workers", None if options.get("readonly") else local_workers)
        return BackfillConsole(
            Backend(settings, stuck_minutes=1),
            autopoll=False,
            **options,  # type: ignore[arg-type]
        )

    return make
