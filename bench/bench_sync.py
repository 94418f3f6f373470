"""Keeping repositories fresh (issue 17): a sync against re-backfilling, on the same GitHub.

20 simulated repositories are backfilled into a scratch Postgres; then GitHub moves on (1% of
each repository's PRs change: state, titles, labels, reviews and comments added, comments
deleted). Two ways to bring the database up to date, each measured in points (the simulator's
own count) and wall time:

- sync: one in-process worker with `sync_only` over every repository (what
  `backfill-console sync` runs), walking UPDATED_AT DESC down to each watermark minus the
  10-minute margin;
- re-backfill: the same worker options backfilling the same (evolved) repositories into a
  fresh scratch database, as one would without syncs.

Both end in GitHub's truth (checked: the synced database equals `/_sim/truth` for every
repository). The ratios are sync / re-backfill (lower is better).

Usage: python bench/bench_sync.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from support import figure, print_figures, scratch_database, worker_gc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.backfill.registry import add_repositories  # noqa: E402
from core.backfill.runtime import Engine, open_engine  # noqa: E402
from core.backfill.worker import Worker, WorkerOptions  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.simulator import RepoSpec, SimConfig, Simulator  # noqa: E402

REPOS = 20
CHANGED = 0.01


def _settings(url: str):
    return load_settings(
        database_url=url, github_token="bench-token", github_graphql_url="https://sim/graphql"
    )


def _points(sim: Simulator) -> int:
    return sum(t["points_used"] for t in sim.stats()["tokens"].values())


async def _work(engine: Engine, **options: Any) -> None:
    worker = Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(until_idle=True, idle_interval=0.05, concurrency=2, **options),
    )
    await worker.run()


def _check_truth(url: str, sim: Simulator, names: list[str]) -> None:
    from tests.support.sync_state import differences

    for name in names:
        wrong = differences(url, sim.truth(name))
        if wrong:
            raise AssertionError(f"{name} after the sync: {wrong[:3]}")


async def _measure(prs: int) -> dict[str, float]:
    specs = [RepoSpec("bench", f"r{i:02d}", prs) for i in range(REPOS)]
    names = [f"{s.owner}/{s.name}" for s in specs]
    sim = Simulator(SimConfig(repos=specs, seed=17, limit=10**9))
    out: dict[str, float] = {}
    with scratch_database("bench_sync") as url, worker_gc():
        async with open_engine(_settings(url), transport=sim.transport()) as engine:
            await add_repositories(engine.store, engine.client, names)
            await _work(engine, sync_every=0)
            for seed, name in enumerate(names):
                sim.evolve(name, changed=max(1, round(prs * CHANGED)), new=0, seed=seed)
            before, started = _points(sim), time.perf_counter()
            await engine.store.request_sync()
            await _work(engine, sync_only=True)
            out["sync_seconds"] = time.perf_counter() - started
            out["sync_points"] = _points(sim) - before
        _check_truth(url, sim, names)
    with scratch_database("bench_sync_rebackfill") as url, worker_gc():
        async with open_engine(_settings(url), transport=sim.transport()) as engine:
            before, started = _points(sim), time.perf_counter()
            await add_repositories(engine.store, engine.client, names)
            await _work(engine, sync_every=0)
            out["rebackfill_seconds"] = time.perf_counter() - started
            out["rebackfill_points"] = _points(sim) - before
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    prs = 200 if quick else 1000
    m = asyncio.run(_measure(prs))
    setup = f"{REPOS} repositories x {prs} PRs, {CHANGED:.0%} changed"
    return [
        figure(
            "sync",
            f"points to bring {setup} up to date",
            m["sync_points"],
            "points",
            "re-backfilling them",
            m["rebackfill_points"],
            "a small fraction of a re-backfill (issue 17)",
            m["sync_points"] < m["rebackfill_points"] / 5,
        ),
        figure(
            "sync",
            f"wall time to bring {setup} up to date",
            m["sync_seconds"],
            "s",
            "re-backfilling them",
            m["rebackfill_seconds"],
            "faster than a re-backfill (issue 17)",
            m["sync_seconds"] < m["rebackfill_seconds"],
            note="in-process simulator (no network latency), one worker with 2 slots",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
