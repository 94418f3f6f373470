"""Red team (issue 16): the next page fetched in the background while the worker stores this
one, attacked where a backfill changes hands. Real Postgres, the worker in-process against
the in-process simulator (its answers take `latency_ms`, so a fetch ahead is still on its way
while the page before is stored, as it is against GitHub)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.conftest import create_database, drop_database
from tests.engine.harness import (
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    simulator,
    start_worker,
    wait_for_workers,
)
from tests.engine.test_worker import backfill, page_fetches, points_used, settings


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return base


async def test_a_slice_handed_over_with_a_fetch_ahead_on_its_way_wastes_nothing(
    database_url: str, pg_admin_url: str, template_db: str
) -> None:
    """Two workers, slices of zero: every page is a chance to hand a backfill over. A page
    fetched ahead and still on its way when the holder looks at what it has fetched ahead is
    paid for already: cancelling it and letting go makes the next holder ask (and pay) for the
    same cursor again."""
    repos = [RepoSpec("o", f"h{i}", 300) for i in range(3)]
    names = [f"o/h{i}" for i in range(3)]

    alone = Simulator(SimConfig(repos=repos, seed=9, latency_ms=40))
    async with open_engine(settings(database_url), transport=alone.transport()) as engine:
        await add_repositories(engine.store, engine.client, names)
        await backfill(engine, worker_id="alone")

    other_db = create_database(pg_admin_url, template_db)
    try:
        shared = Simulator(SimConfig(repos=repos, seed=9, latency_ms=40))
        async with (
            open_engine(settings(other_db), transport=shared.transport()) as a,
            open_engine(settings(other_db), transport=shared.transport()) as b,
        ):
            await add_repositories(a.store, a.client, names)
            workers = await asyncio.gather(
                backfill(a, worker_id="a", concurrency=1, slice_seconds=0.0),
                backfill(b, worker_id="b", concurrency=1, slice_seconds=0.0),
            )
            assert {p.status for p in await a.store.backfill_progress()} == {"completed"}
    finally:
        drop_database(pg_admin_url, other_db)
    assert all(w.stats.claims > 1 for w in workers), "both workers took turns"
    twice = {
        repo: [c for c, n in pages.items() if n > 1]
        for repo, pages in shared.stats()["pages"].items()
        if any(n > 1 for n in pages.values())
    }
    assert not twice, twice
    assert page_fetches(shared) <= page_fetches(alone) + 2
    assert points_used(shared) <= 1.5 * points_used(alone)


NOISE = (
    "Task exception was never retrieved",
    "Task was destroyed but it is pending",
    "Traceback",
    "coroutine ",  # "... was never awaited"
)


@pytest.mark.slow
@pytest.mark.reliability
def test_faults_during_fetches_ahead_end_exact_and_quiet(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Every kind of bad answer GitHub gives, at random, while pages are fetched ahead (the
    answers take 30 ms, so each fetch ahead is on its way while the page before is stored):
    the backfills end completed with exactly the simulator's data, no chunk `processing`, and
    nothing in the workers' logs about a background task whose error nobody read."""
    repos = ["ahead/a:600", "ahead/b:400", "ahead/c:250"]
    faults = "502:0.03,504:0.02,reset:0.03,malformed:0.03,partial:0.03,went_wrong:0.03"
    extra = ("--faults", faults, "--latency-ms", "30")
    with simulator(repos, seed=23, extra=extra) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        logs = [tmp_path / f"w{i}.log" for i in range(2)]
        workers = [
            start_worker(env, "--until-idle", "--concurrency", "2", "--id", f"w{i}", log=logs[i])
            for i in range(2)
        ]
        wait_for_workers(workers, timeout=240)
        stats = sim.stats()
    assert sum(stats["faults"].values()) > 10
    check_invariants(database_url, stats)
    with psycopg.connect(database_url) as db:
        assert db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone() == (0,)
    for log in logs:
        text = log.read_text()
        assert not [n for n in NOISE if n in text], text[-3000:]


async def test_a_backfill_paused_with_a_fetch_ahead_on_its_way(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Paused while its next page is on its way: the holder lets go, the fetch ahead is
    dropped (no error left unread), no chunk stays `processing`, and after a resume the
    backfill completes exactly, at most the one page that was on its way asked for twice."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "p", 400)], seed=4, latency_ms=40))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        (added,) = await add_repositories(engine.store, engine.client, ["o/p"])
        key = UUID(added.backfill_state_id)
        stored: list[str] = []
        third = asyncio.Event()

        def on_event(message: str) -> None:
            stored.extend([message] if " stored " in message else [])
            if len(stored) >= 3:
                third.set()  # the third page is stored: the fourth is on its way

        worker = Worker(
            engine.store,
            engine.client,
            engine.presence,
            WorkerOptions(until_idle=True, idle_interval=0.05, worker_id="w", concurrency=1),
            on_event=on_event,
        )
        run = asyncio.create_task(worker.run())
        await third.wait()
        assert await engine.store.pause_backfill(key)
        await run
        (paused,) = await engine.store.backfill_progress()
        assert paused.status == "paused" and paused.processed_prs < 400
        assert not engine.client._refills
        assert await engine.store.resume_backfill(key)
        await backfill(engine, worker_id="w2", concurrency=1)
        assert [(p.status, p.processed_prs) for p in await engine.store.backfill_progress()] == [
            ("completed", 400)
        ]
    with psycopg.connect(database_url) as db:
        assert db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone() == (0,)
    stats = sim.stats()
    assert stats["prs"]["o/p"] == 400
    assert sum(n > 1 for n in stats["pages"]["o/p"].values()) <= 1
    gc.collect()
    assert "never retrieved" not in caplog.text
