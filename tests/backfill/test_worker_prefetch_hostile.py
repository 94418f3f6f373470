"""Red team: the next page fetched in the background while the worker stores this
one, attacked where a backfill changes hands (slice handover, pause), under bad answers, and
at a stop. Real Postgres; the worker in-process against the in-process simulator, or worker
processes against the simulator over HTTP. Answers take `latency_ms`, so a fetch ahead is
still on its way while the page before is stored, as it is against GitHub."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import STOP_GRACE_SECONDS, Worker, WorkerOptions
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.harness import (
    assert_nothing_processing_or_held,
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.worker_runs import backfill, settings


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return base


async def test_a_slice_handed_over_with_a_fetch_ahead_on_its_way_wastes_nothing(
    database_url: str,
) -> None:
    """One slot, slices of zero, another backfill waiting: every page is a chance to hand the
    backfill over. With seed 1 the first pages of octo/big need no follow-up, so a page leaves
    nothing in the buffer but the next page on its way (answers take 200 ms, the store far
    less). That page is paid for already: the holder stores it before it lets go, as it does
    PRs fetched ahead, instead of cancelling it and asking (and paying) for it again later."""
    repos = [RepoSpec("octo", "big", 300), RepoSpec("octo", "other", 60)]
    sim = Simulator(SimConfig(repos=repos, seed=1, latency_ms=200))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["octo/big", "octo/other"])
        worker = await backfill(engine, worker_id="w", concurrency=1, slice_seconds=0.0)
        progress = {
            p.repository: (p.status, p.processed_prs)
            for p in await engine.store.backfill_progress()
        }
    assert progress == {"octo/big": ("completed", 300), "octo/other": ("completed", 60)}
    assert worker.stats.claims > 2, "the slot went back and forth"
    twice = {
        repo: [cursor.split("|")[0] for cursor, n in pages.items() if n > 1]
        for repo, pages in sim.stats()["pages"].items()
        if any(n > 1 for n in pages.values())
    }
    assert not twice, twice


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
        assert not engine.client._look_ahead.refills
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


def _stored_chunks(database_url: str) -> int:
    with psycopg.connect(database_url) as db:
        row = db.execute("SELECT count(*) FROM backfill_chunks WHERE status = 'completed'")
        return int(row.fetchone()[0])  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["sigterm", "max-runtime"])
def test_a_worker_stopped_with_a_fetch_ahead_in_flight_ends_clean_and_quiet(
    env: dict[str, str], database_url: str, tmp_path: Path, stop: str
) -> None:
    """Answers take 3 s: when a page is stored, the next one is on its way. SIGTERM (or the
    --max-runtime deadline) then ends the worker well within the stop's grace, with no chunk
    `processing`, no lease held, and nothing in its log about a background fetch: no error
    left unread, no ledger settled on a closed database."""
    repos = ["stop/a:300"]
    with simulator(repos, seed=5, extra=("--latency-ms", "3000")) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", "stop/a").returncode == 0
        log = tmp_path / "w.log"
        args = ("--concurrency", "1") + (("--max-runtime", "14") if stop == "max-runtime" else ())
        worker = start_worker(env, *args, log=log)
        try:
            if stop == "sigterm":
                deadline = time.monotonic() + 60
                while _stored_chunks(database_url) < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert _stored_chunks(database_url) >= 1
                time.sleep(0.5)  # the next page is on its way (3 s)
                worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=STOP_GRACE_SECONDS + 15)
        finally:
            terminate_all([worker])
    assert code == 0
    assert_nothing_processing_or_held(database_url)
    text = log.read_text()
    assert not [n for n in (*NOISE, "settling failed") if n in text], text[-3000:]
