"""Every chunk a failure cuts short records THAT failure (on the chunk and the backfill's
last_error), so `stats` and the console say why: a real `worker` process, the simulator over
HTTP, the embedded Postgres."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from core.backfill.registry import add_repositories
from core.backfill.runtime import Engine, open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.github.errors import AuthenticationError
from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator, serve
from tests.support.harness import cli, log_tail, start_worker, terminate_all
from tests.support.worker_runs import settings

TOKEN = "soon-revoked-simulator-token"


def _wait_for_stored_chunks(database_url: str, backfills: int, timeout: float = 60) -> None:
    """Until each of `backfills` backfills has stored a page (the worker is in full swing)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as db:
        while time.monotonic() < deadline:
            (working,) = db.execute(
                "SELECT count(DISTINCT backfill_state_id) FROM backfill_chunks "
                "WHERE status = 'completed'"
            ).fetchone()
            if working >= backfills:
                return
            time.sleep(0.1)
    raise AssertionError(f"fewer than {backfills} backfills stored a page in {timeout} s")


@pytest.mark.slow
def test_a_token_revoked_mid_run_is_why_every_chunk_it_cut_short_failed(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    repos = [RepoSpec("revoked", f"r{i}", 600) for i in range(3)]
    # Slow answers: when the first 401 stops the worker, the other slots are mid-fetch.
    sim = Simulator(SimConfig(repos=repos, latency_ms=400))
    with serve(sim) as url:
        env = dict(cli_env, GITHUB_GRAPHQL_URL=f"{url}/graphql", GITHUB_TOKEN=TOKEN)
        assert cli(env, "add", *(f"{r.owner}/{r.name}" for r in repos)).returncode == 0
        worker = start_worker(env, "--concurrency", "3", log=tmp_path / "worker.log")
        try:
            _wait_for_stored_chunks(database_url, len(repos))
            sim.config.revoked_tokens = frozenset({TOKEN})  # GitHub revokes it now
            code = worker.wait(timeout=60)
        finally:
            terminate_all([worker])
        assert code == AuthenticationError.exit_code == 3, log_tail(worker)
        stats = cli(env, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert TOKEN not in log_tail(worker, 1 << 20)

    with psycopg.connect(database_url, row_factory=dict_row) as db:
        chunks = db.execute(
            "SELECT backfill_state_id, status, error FROM backfill_chunks "
            "WHERE status <> 'completed'"
        ).fetchall()
        backfills = db.execute(
            "SELECT s.id, r.owner || '/' || r.name AS repo, s.status, s.last_error "
            "FROM progressive_backfill_state s JOIN repositories r ON r.id = s.repository_id"
        ).fetchall()
    assert chunks and all(c["status"] == "failed" for c in chunks), [
        (c["status"], c["error"][:60]) for c in chunks
    ]
    assert all("401 Bad credentials" in c["error"] for c in chunks), chunks
    cut_short = [c for c in chunks if c["error"].startswith("worker stopped before")]
    assert cut_short, chunks  # the case that used to say only "worker stopped"
    # Each backfill whose chunk the revocation cut short says why (a slot between two
    # chunks had none in hand), and `stats --json` shows it.
    touched = {c["backfill_state_id"] for c in chunks}
    said = {b["repo"] for b in backfills if b["id"] in touched}
    assert said and all(b["status"] == "active" for b in backfills)  # they wait for a token
    for b in backfills:
        assert ("401 Bad credentials" in (b["last_error"] or "")) is (b["repo"] in said), b
    progress = json.loads(stats.stdout)["progress"]
    why = {p["repository"]: p["standing"]["why"] or "" for p in progress}
    assert {repo for repo, text in why.items() if "401 Bad credentials" in text} == said, why


# -- variants in-process: the deadline and a stop signal, in a backfill and in a sync -------


async def _worker(engine: Engine, **options: Any) -> Worker:
    return Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(until_idle=True, idle_interval=0.05, **options),
    )


def _failed_chunks(db: psycopg.Connection[Any]) -> list[tuple[str, str | None]]:
    """(chunk error, its backfill's last_error) of every failed chunk; none is processing."""
    (processing,) = db.execute(
        "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
    ).fetchone() or (None,)
    assert processing == 0
    return [
        (row[0], row[1])
        for row in db.execute(
            "SELECT c.error, s.last_error FROM backfill_chunks c "
            "JOIN progressive_backfill_state s ON s.id = c.backfill_state_id "
            "WHERE c.status = 'failed'"
        ).fetchall()
    ]


async def test_max_runtime_during_a_fetch_is_why_its_chunk_failed(database_url: str) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "slow", 200)]))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/slow"])
        sim.config.latency_ms = 30_000  # the first page is still on its way at the deadline
        await (await _worker(engine, max_runtime=1.0)).run()
    with psycopg.connect(database_url) as db:
        reason = "worker stopped before the page was stored: --max-runtime reached"
        assert _failed_chunks(db) == [(reason, reason)]


async def test_a_stop_signal_abandoning_a_sync_page_is_why_its_chunk_failed(
    database_url: str,
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "synced", 120)], seed=3))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/synced"])
        await (await _worker(engine, sync_every=0)).run()
        sim.evolve("o/synced", changed=10, seed=5)
        await engine.store.request_sync(None)
        # The sync's first page is on its way when stopped: 30 s late, aimed at the
        # repository's own page queries (owner/name). The freshness probe that runs first
        # names it as `o0`/`n0` in its aliased document, so it is answered at once and
        # settles; a latency for every answer would hold the probe instead (the simulator
        # turns a latency past GitHub's 10 s into a 502) and no sync page would be sent.
        sim.config.slow_seconds = 30
        sim.config.faults = FaultSpec.parse("slow@o/synced*1")
        worker = await _worker(engine, sync_only=True)
        running = asyncio.create_task(worker.run())
        with psycopg.connect(database_url, autocommit=True) as db:
            for _ in range(1000):  # until the sync's page is on its way (10 s at most)
                if db.execute(
                    "SELECT 1 FROM backfill_chunks WHERE status = 'processing'"
                ).fetchone():
                    break
                await asyncio.sleep(0.01)
            worker.stop(abandon=True, reason="SIGINT received")  # a second Ctrl-C
            await running
            reason = "worker stopped before the page was stored: SIGINT received"
            assert _failed_chunks(db) == [(reason, reason)]
    assert sim.stats()["faults"]["slow"] == 1  # the page the stop abandoned, nothing else
