"""Every command through a transaction pooler, as users on Supabase's port 6543 run them:
workers SIGKILLed mid-backfill, recovery, sync and the console's poll. The end state is read
in the database directly."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from console.backend import Backend
from core.config import load_settings
from core.store import Store
from tests.support.harness import (
    TOKEN,
    check_invariants,
    cli,
    dead_requests_leave_the_window,
    engine_env,
    holding_mid_work,
    recover_left_processing,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.recovery_rows import chunk_row, stuck_chunk
from tests.support.sync_state import differences, get, post


async def test_recover_through_the_pooler(
    store: Store, db: psycopg.Connection, pooled_env: dict[str, str]
) -> None:
    _, young = await stuck_chunk(store, db, "young", minutes=59, expected=2, stored=2)
    _, old = await stuck_chunk(store, db, "old", minutes=61, expected=2, stored=2)
    _, lost = await stuck_chunk(store, db, "lost", minutes=90, expected=3, stored=1)
    run = cli(pooled_env, "recover", "--stuck-threshold=60", "--json")
    assert run.returncode == 0, run.stderr
    assert chunk_row(db, old.id)["status"] == "completed"
    assert chunk_row(db, lost.id)["status"] == "failed"
    assert chunk_row(db, young.id)["status"] == "processing"
    again = cli(pooled_env, "recover", "--stuck-threshold=60", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["chunks"] == []


@pytest.mark.slow
@pytest.mark.reliability
def test_workers_sigkilled_through_the_pooler_complete_the_backfill(
    pooled_env: dict[str, str], database_url: str, tmp_path: Path, full_size: bool
) -> None:
    """Workers through the pooler, each killed mid-work (10 times under `-m reliability`, 4 in
    the default run): at a random moment, once one holds a backfill with PRs stored and a
    chunk in flight; the ones started after them finish every backfill exactly."""
    sizes = [30, 300, 800, 1500] if full_size else [30, 200, 500]
    repos = [f"pool/r{i}:{size}" for i, size in enumerate(sizes)]
    rounds = 10 if full_size else 4
    rng = random.Random(20250250)
    killed_holding = 0  # kills of a worker that still held its backfill afterwards
    # 50 ms a page: on a quiet machine the largest backfill still spans every kill.
    with simulator(repos, seed=5, extra=("--latency-ms", "50")) as sim:
        env = engine_env(pooled_env, sim)
        added = cli(env, "add", *(r.split(":")[0] for r in repos))
        assert added.returncode == 0, added.stderr
        # No syncs, probes or comment upkeep once idle (`--sync-every 0`): this test is the
        # backfill's; each is paced, and the finishers' pass added a minute under load.
        args = ("--concurrency", "2", "--lease-seconds", "30", "--sync-every", "0")
        workers = {f"w{i}": start_worker(env, *args, "--id", f"w{i}") for i in range(3)}
        with psycopg.connect(database_url, autocommit=True) as db:
            for kill in range(rounds):
                # A random moment, then the first one mid-work from it on (a sleep alone
                # landed the kills after the backfills had ended on a loaded machine).
                time.sleep(rng.uniform(0, 0.1))
                victim = rng.choice(holding_mid_work(db, workers))
                workers[victim].kill()
                workers[victim].wait()
                killed_holding += bool(
                    db.execute(
                        "SELECT 1 FROM progressive_backfill_state WHERE leased_by = %s", (victim,)
                    ).fetchone()
                )
                db.execute(
                    "UPDATE progressive_backfill_state SET lease_expires_at = now() "
                    "WHERE leased_by = %s",
                    (victim,),
                )
                dead_requests_leave_the_window(db, [workers.pop(victim).pid])
                name = f"w{kill + 3}"
                workers[name] = start_worker(env, *args, "--id", name, log=tmp_path / f"{name}.log")
        finishers = [
            start_worker(
                env,
                "--until-idle",
                "--sync-every",
                "0",
                "--id",
                f"final{i}",
                log=tmp_path / f"f{i}.log",
            )
            for i in range(2)
        ]
        try:
            wait_for_workers(finishers, timeout=300)
        finally:
            terminate_all([*workers.values(), *finishers])
        stats = sim.stats()
    assert killed_holding == rounds  # every kill landed on a worker holding a backfill
    check_invariants(database_url, stats)
    recover_left_processing(env, database_url)  # `recover` through the pooler too
    with psycopg.connect(database_url) as db:
        held = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    assert held == (0,)


@pytest.mark.slow
def test_sync_and_the_console_s_poll_through_the_pooler(
    pooled_env: dict[str, str], pooled_url: str, database_url: str, tmp_path: Path
) -> None:
    repo = "pool/synced"
    with simulator([f"{repo}:300"], seed=11) as sim:
        env = engine_env(pooled_env, sim)
        assert cli(env, "add", repo).returncode == 0
        done = cli(env, "worker", "--until-idle", "--sync-every", "0", timeout=300)
        assert done.returncode == 0, done.stderr
        post(f"{sim.url}/_sim/evolve", {"repo": repo, "changed": 120, "new": 15})
        truth = get(f"{sim.url}/_sim/truth?repo={repo}")
        assert differences(database_url, truth) != []
        synced = cli(env, "sync", repo, timeout=300)
        assert synced.returncode == 0, synced.stderr
        assert differences(database_url, truth) == []

        # The console's poll, as its refresh timer runs it: more often than psycopg's
        # threshold for preparing a statement.
        settings = load_settings(
            _env_file=None,
            database_url=pooled_url,
            github_token=TOKEN,
            github_graphql_url=sim.graphql_url,
            data_dir=str(tmp_path / "console"),
        )
        backend = Backend(settings, stuck_minutes=30)
        backend.start()
        try:

            async def polls() -> list[Any]:
                return [await backend.snapshot() for _ in range(8)]

            reports = asyncio.run(polls())
        finally:
            backend.close(timeout=10)
    with psycopg.connect(database_url) as db:
        (stored,) = db.execute("SELECT count(*) FROM pull_requests").fetchone()
    for report in reports:
        [progress] = report.progress
        assert progress.repository == repo
        assert progress.status == "completed"
        assert progress.processed_prs == stored == len(truth["pull_requests"])
