"""A page fetched ahead by a holder that loses its backfill while the page is on its way: the
lease expires and another worker takes over, the repository is removed, the backfill fails
and is retried, or recovery takes the holder's chunk. Real Postgres, time moved in the
database (never slept); the simulator in-process behind a gate that holds the old holder's
fetch ahead until the test lets it through, so the page is on its way for certain (not for a
while) when the backfill changes hands; `remove`, `retry` and `recover` through the CLI. And
once with real worker processes: the old holder SIGSTOPped while its page is on its way.

What must hold in every case: the database ends with exactly the simulator's data (or nothing,
once removed), the old holder commits nothing under the lease it lost (the fencing token
refuses it), its page fetched ahead is dropped (not stored, no task error left unread), no
chunk stays `processing`, and its run ends on its own."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from core.backfill.registry import add_repositories
from core.backfill.runtime import Engine, open_engine
from core.backfill.worker import Worker, WorkerOptions, WorkerStats
from core.github.http import AHEAD_EXTENSION
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.harness import (
    assert_nothing_processing_or_held,
    check_invariants,
    cli,
    engine_env,
    log_tail,
    simulator,
    start_worker,
    wait_for_workers,
)
from tests.support.worker_runs import backfill, settings

NOISE = ("never retrieved", "Task was destroyed but it is pending", "was never awaited")


class AheadGate(httpx.AsyncBaseTransport):
    """The in-process simulator, except that a request sent by a fetch ahead for `repo` (or
    any follow-up a fetch ahead sends) waits here until `open()`: the page is on its way."""

    def __init__(self, inner: httpx.AsyncBaseTransport, repo: str) -> None:
        self.inner = inner
        self.owner, self.name = repo.split("/")
        self.held = asyncio.Event()
        self._open = asyncio.Event()

    def _for_repo(self, request: httpx.Request) -> bool:
        try:
            variables = json.loads(request.content).get("variables") or {}
        except ValueError:
            return False
        return (variables.get("owner"), variables.get("name")) in (
            (self.owner, self.name),
            (None, None),  # follow-ups only: whichever walk sent them
        )

    def open(self) -> None:
        self._open.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.extensions.get(AHEAD_EXTENSION)
            and not self._open.is_set()
            and self._for_repo(request)
        ):
            self.held.set()
            await self._open.wait()
        return await self.inner.handle_async_request(request)


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    """Poll `check` until it holds (a bound for a hung run, not a timing assertion)."""
    try:
        async with asyncio.timeout(seconds):
            while not await check():  # noqa: ASYNC110 - the database has no event to await
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


def _sql(database_url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as db:
        cursor = db.execute(query, args)
        return cursor.fetchall() if cursor.description else []


def _chunks(database_url: str, worker_id: str) -> dict[str, int]:
    rows = _sql(
        database_url,
        "SELECT status, count(*) FROM backfill_chunks WHERE worker_id = %s GROUP BY status",
        worker_id,
    )
    return {status: n for status, n in rows}


def _running(
    engine: Engine, worker_id: str, concurrency: int, on_event: Callable[[str], None] | None = None
) -> tuple[Worker, asyncio.Task[WorkerStats]]:
    """A worker (until idle) running in the background on `engine`'s client."""
    options = WorkerOptions(
        until_idle=True, idle_interval=0.05, worker_id=worker_id, concurrency=concurrency
    )
    worker = Worker(engine.store, engine.client, engine.presence, options, on_event=on_event)
    return worker, asyncio.create_task(worker.run())


def _expire_lease(database_url: str, key: UUID) -> None:
    """The old holder's lease runs out, on the database's clock."""
    _sql(
        database_url,
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second' "
        "WHERE id = %s",
        key,
    )


@dataclass
class Meanwhile:
    """What the test has at hand while the old holder's page 2 is on its way."""

    database_url: str
    env: dict[str, str]  # `backfill-console` against the same database
    new: Engine  # another client: another process, as it were
    key: UUID

    async def cli(self, *args: str) -> str:
        """`backfill-console ARGS` (exit 0); its output."""
        done = await asyncio.to_thread(cli, self.env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


async def _takeover(m: Meanwhile) -> None:
    _expire_lease(m.database_url, m.key)
    await backfill(m.new, worker_id="new", concurrency=1)


async def _remove(m: Meanwhile) -> None:
    """`backfill-console remove o/p --yes`: the lease is live, nobody asks the holder."""
    await m.cli("remove", "o/p", "--yes")
    await backfill(m.new, worker_id="new", concurrency=1)


async def _retry(m: Meanwhile) -> None:
    """The lease runs out; the backfill is failed meanwhile (a repository no installation
    sees: no lease needed), then `backfill-console retry` once the cause is fixed, and
    another worker takes it to the end."""
    _expire_lease(m.database_url, m.key)
    assert await m.new.store.fail_unreachable_backfill(m.key, "no installation sees it")
    await m.cli("retry", "o/p")
    await backfill(m.new, worker_id="new", concurrency=1)


async def _recover(m: Meanwhile) -> None:
    """The holder looks stuck: its chunk started 35 minutes ago and its lease ran out.
    Recovery (live) settles the chunk and the lease; another worker goes on."""
    _sql(
        m.database_url,
        "UPDATE backfill_chunks SET started_at = started_at - interval '35 minutes' "
        "WHERE status = 'processing'",
    )
    _expire_lease(m.database_url, m.key)
    report = json.loads(await m.cli("recover", "--json"))
    assert [c["outcome"] for c in report["chunks"]] == ["applied"], report
    await backfill(m.new, worker_id="new", concurrency=1)


MEANWHILE = {"takeover": _takeover, "remove": _remove, "retry": _retry, "recover": _recover}


@pytest.mark.parametrize("meanwhile", list(MEANWHILE))
async def test_a_fetch_ahead_on_its_way_when_the_backfill_changes_hands(
    database_url: str, cli_env: dict[str, str], caplog: pytest.LogCaptureFixture, meanwhile: str
) -> None:
    """The old holder stored page 1; page 2 is on its way (held at the gate) and its chunk 2
    is `processing`. Then the backfill changes hands (`meanwhile`), a worker with its own
    client (another process, as it were) finishes the work, and only then does page 2 reach
    the old holder: it must not be stored, and the old holder must end cleanly."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "p", 300)], seed=4, latency_ms=5))
    gate = AheadGate(sim.transport(), "o/p")
    async with (
        open_engine(settings(database_url), transport=gate) as old,
        open_engine(settings(database_url), transport=sim.transport()) as new,
    ):
        (added,) = await add_repositories(old.store, old.client, ["o/p"])
        key = UUID(added.backfill_state_id)
        worker, run = _running(old, "old", 1)

        async def page_2_on_its_way() -> bool:
            return gate.held.is_set() and _chunks(database_url, "old") == {
                "completed": 1,
                "processing": 1,
            }

        await _until(page_2_on_its_way, "the old holder's page 2 on its way")
        await MEANWHILE[meanwhile](Meanwhile(database_url, cli_env, new, key))
        gate.open()
        async with asyncio.timeout(30):
            stats = await run
        assert stats.pages == 1, "the old holder stored a page under a lease it lost"
        assert not await worker.left_undone()
        assert not old.client._look_ahead.refills and not old.client._look_ahead.buffers
    assert_nothing_processing_or_held(database_url)
    if meanwhile == "remove":  # everything of o/p went, and nothing came back
        for table in ("repositories", "pull_requests", "reviews", "comments", "backfill_chunks"):
            assert _sql(database_url, f"SELECT count(*) FROM {table}") == [(0,)], table
    else:
        # page 1 stored; chunk 2 failed (by the old holder, or by recovery), never stored
        assert _chunks(database_url, "old") == {"completed": 1, "failed": 1}
        check_invariants(database_url, sim.stats())
    gc.collect()
    assert not [n for n in NOISE if n in caplog.text], caplog.text[-3000:]


async def test_a_slot_of_the_same_process_takes_over_while_the_old_slot_fetches_ahead(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One process, two slots, one client: slot 1's lease on o/p runs out while its page 2 is
    on its way, and slot 2 (done with o/q) claims o/p. Both walk o/p through the same
    client; what slot 1 fetched ahead is slot 1's. Slot 2 must not take PRs out of slot 1's
    buffer (a gap: they are never stored), slot 1 letting go must not drop slot 2's walk (its
    page fetched ahead cancelled under it, nor its place in the worker's presence), and the
    data ends exact."""
    repos = [RepoSpec("o", "p", 300), RepoSpec("o", "q", 20)]  # o/q: one page, no fetch ahead
    sim = Simulator(SimConfig(repos=repos, seed=4, latency_ms=5))
    gate = AheadGate(sim.transport(), "o/p")
    async with open_engine(settings(database_url), transport=gate) as engine:
        (p, _) = await add_repositories(engine.store, engine.client, ["o/p", "o/q"])
        key = UUID(p.backfill_state_id)
        held_at_the_end: list[list[str]] = []

        def on_event(message: str) -> None:
            if message == "o/p: completed":  # slot 2 still holds it; slot 1 let go long ago
                held_at_the_end.append([x.repository for x in engine.presence.held.values()])

        worker, run = _running(engine, "w", 2, on_event)

        async def page_2_on_its_way_and_q_done() -> bool:
            done = _sql(
                database_url,
                "SELECT count(*) FROM progressive_backfill_state WHERE status = 'completed'",
            )
            chunks = _chunks(database_url, "w")
            return (
                gate.held.is_set()
                and done == [(1,)]
                and chunks == {"completed": 2, "processing": 1}
            )

        await _until(page_2_on_its_way_and_q_done, "o/p's page 2 on its way, o/q done")
        _expire_lease(database_url, key)

        async def taken_over() -> bool:
            return _chunks(database_url, "w").get("processing", 0) == 2 or run.done()

        await _until(taken_over, "slot 2 on o/p")
        gate.open()
        async with asyncio.timeout(60):
            await run
        assert not engine.client._look_ahead.refills and not engine.client._look_ahead.buffers
        assert worker.stats.failures == 0  # no page refused as malformed, no cooldown
        assert held_at_the_end == [["o/p"]]
    assert_nothing_processing_or_held(database_url)
    failed = _sql(database_url, "SELECT error FROM backfill_chunks WHERE status = 'failed'")
    assert failed == [("not stored: lease lost",)]  # slot 1's page 2, and only that
    check_invariants(database_url, sim.stats())
    gc.collect()
    assert not [n for n in NOISE if n in caplog.text], caplog.text[-3000:]


@pytest.mark.slow
@pytest.mark.reliability
def test_a_worker_process_paused_while_its_page_is_on_its_way(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Real processes. Worker A stored page 1 and waits for page 2 (answers take 1.5 s) when
    it is paused (SIGSTOP: a VM stall, a laptop lid, a long GC). Its lease runs out (time
    moved in the database), worker B takes the backfill over and completes it; then A
    resumes and reads page 2. A must store nothing more, fail its chunk 2, and exit 0 (its
    page 1 was stored; the rest was done by B); the database ends exact."""
    with simulator(["pause/a:100"], seed=9, extra=("--latency-ms", "1500")) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "add", "pause/a").returncode == 0
        log = tmp_path / "a.log"
        a = start_worker(env, "--until-idle", "--concurrency", "1", "--id", "a", log=log)
        try:
            deadline = time.monotonic() + 60
            while _chunks(database_url, "a") != {"completed": 1, "processing": 1}:
                assert time.monotonic() < deadline and a.poll() is None, log_tail(a)
                time.sleep(0.01)
            os.kill(a.pid, signal.SIGSTOP)
            # A has not read page 2 yet (it records a page's PRs before committing it): it
            # holds no row lock, and page 2 reaches it only after the takeover.
            (recorded,) = _sql(
                database_url,
                "SELECT pr_numbers FROM backfill_chunks WHERE worker_id = 'a' "
                "AND status = 'processing'",
            )
            assert recorded == (None,), "page 2 reached A before the pause: raise the latency"
            key = _sql(database_url, "SELECT id FROM progressive_backfill_state")[0][0]
            _expire_lease(database_url, key)
            b = cli(env, "worker", "--until-idle", "--id", "b", "--sync-every", "0")
            assert b.returncode == 0, b.stderr[-3000:]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(a.pid, signal.SIGCONT)
        wait_for_workers([a], timeout=60)  # exit 0
        stats = sim.stats()
    assert _chunks(database_url, "a") == {"completed": 1, "failed": 1}
    assert_nothing_processing_or_held(database_url)
    check_invariants(database_url, stats)
    assert "chunk 2 not stored (lease lost)" in log.read_text()
    text = log.read_text()
    assert not [n for n in (*NOISE, "Traceback") if n in text], text[-3000:]
