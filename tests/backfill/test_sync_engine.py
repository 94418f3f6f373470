"""Incremental sync in-process: after evolve + sync the database is GitHub's truth,
at the points the cost rule makes necessary for the changed PRs and no more."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta

import psycopg

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.github.queries import NESTED_PER_PR, REQUESTS_PER_POINT
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.sync_runs import run, sync_now
from tests.support.sync_state import differences, sync_state
from tests.support.worker_runs import settings

MARGIN = timedelta(seconds=600)  # the workers' default safety margin
PROBE_POINT = 1  # one freshness probe (up to 100 repositories) before any walk


def points(sim: Simulator) -> int:
    return sum(t["points_used"] for t in sim.stats()["tokens"].values())


def minimum_points(sim: Simulator, repo: str, since: datetime) -> int:
    """The fewest points GitHub's cost rule allows to read the PRs updated since `since`,
    complete: every query costs at least 1 point and one point buys at most 149 requests;
    per PR one request per nested list (NESTED_PER_PR: commits' count, reviews, comments,
    labels, review threads), and a list of n > 100 items ceil(n / 100) - 1 more, one after
    another; each review thread one request per 100 of its comments (a thread's comments
    are a connection under the thread: one request per thread its parent could list)."""
    truth = sim.truth(repo)["pull_requests"]
    changed = [
        pr
        for pr in truth
        if datetime.fromisoformat(pr["updatedAt"].replace("Z", "+00:00")) >= since
    ]
    requests = 1 + NESTED_PER_PR * len(changed)
    chain = 0
    for pr in changed:
        threads = pr["review_threads"]
        extra = [
            max(0, math.ceil(len(items) / 100) - 1)
            for items in (pr["reviews"], pr["comments"], threads)
        ]
        requests += sum(extra)
        requests += sum(max(1, math.ceil(len(t["comments"]) / 100)) for t in threads)
        chain = max(chain, *extra)
    return max(math.ceil(requests / REQUESTS_PER_POINT), 1 + chain)


async def test_evolve_then_sync_equals_truth_at_minimum_points(database_url: str) -> None:
    repos = [RepoSpec("o", "a", 400), RepoSpec("o", "b", 150)]
    sim = Simulator(SimConfig(repos=repos, seed=4))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/a", "o/b"])
        await run(engine, sync_every=0)
        assert differences(database_url, sim.truth("o/a")) == []
        report = sim.evolve("o/a", changed=20, new=7, seed=11)  # 5% changed, 7 new
        assert report["comments_deleted"] > 0 and report["reviews_added"] > 0
        assert len(differences(database_url, sim.truth("o/a"))) >= 20
        before = points(sim)
        state = sync_state(database_url, "o/a")
        worker = await sync_now(engine, [state["id"]])
        spent = points(sim) - before

        assert worker.stats.syncs == 1
        assert differences(database_url, sim.truth("o/a")) == []
        after = sync_state(database_url, "o/a")
        assert after["processed_prs"] == after["total_prs"] == 407
        assert after["sync_cursor"] is None and after["leased_by"] is None
        newest = max(pr["updatedAt"] for pr in sim.truth("o/a")["pull_requests"])
        assert after["sync_watermark"].isoformat().replace("+00:00", "Z") == newest
        # The first sync walks down to the backfill's start (minus the margin), after the
        # freshness probe (PROBE_POINT) that found the repository moved.
        floor = minimum_points(sim, "o/a", state["started_at"] - MARGIN) + PROBE_POINT
        assert spent <= max(floor, math.floor(floor * 1.1)), (spent, floor)

        # Nothing changed since: the probe alone answers (one point), no walk, no chunk row.
        before = points(sim)
        await sync_now(engine, [state["id"]])
        assert points(sim) - before == PROBE_POINT
        assert differences(database_url, sim.truth("o/a")) == []
        assert sync_state(database_url, "o/a")["sync_watermark"] == after["sync_watermark"]

    with psycopg.connect(database_url) as db:
        kinds = dict(
            db.execute(
                "SELECT kind, count(*) FROM backfill_chunks c "
                "WHERE status = 'completed' GROUP BY kind"
            ).fetchall()
        )
        numbers = [
            n
            for (n,) in db.execute(
                "SELECT chunk_number FROM backfill_chunks WHERE backfill_state_id = %s "
                "ORDER BY chunk_number",
                (state["id"],),
            ).fetchall()
        ]
    # One walk wrote sync chunks; the probe that found nothing wrote none.
    assert kinds["sync"] >= 1 and kinds["backfill"] >= 2
    assert numbers == list(range(1, len(numbers) + 1))  # one numbering for both kinds


async def test_changes_during_a_backfill_land_after_it_and_one_sync(database_url: str) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "live", 600)], seed=5))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/live"])
        evolved: list[dict] = []

        def on_event(message: str) -> None:
            # GitHub moves on twice while the walk is under way: PRs it passed, PRs ahead.
            if "chunk 2 stored" in message or "chunk 5 stored" in message:
                evolved.append(sim.evolve("o/live", changed=30, new=4, seed=len(evolved)))

        worker = Worker(
            engine.store,
            engine.client,
            engine.presence,
            WorkerOptions(until_idle=True, idle_interval=0.05, sync_every=0),
            on_event=on_event,
        )
        await worker.run()
        assert len(evolved) == 2
        state = sync_state(database_url, "o/live")
        assert state["status"] == "completed" and state["sync_count"] == 0
        assert differences(database_url, sim.truth("o/live")) != []  # passed PRs are stale

        await sync_now(engine)
        assert differences(database_url, sim.truth("o/live")) == []
        state = sync_state(database_url, "o/live")
        assert state["processed_prs"] == state["total_prs"] == 608


async def test_two_syncs_of_one_repository_at_once_one_does_it(database_url: str) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "a", 300)], seed=6, latency_ms=20))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/a"])
        await run(engine, sync_every=0)
        sim.evolve("o/a", changed=150, new=0, seed=1)  # several pages to walk
        await engine.store.request_sync()
        workers = [
            Worker(
                engine.store,
                engine.client,
                engine.presence,
                WorkerOptions(until_idle=True, idle_interval=0.05, sync_only=True),
            )
            for _ in range(2)
        ]
        await asyncio.gather(*(w.run() for w in workers))
        assert sorted(w.stats.syncs for w in workers) == [0, 1]
        assert sorted(w.stats.sync_pages > 0 for w in workers) == [False, True]
        assert sync_state(database_url, "o/a")["sync_count"] == 1
        assert differences(database_url, sim.truth("o/a")) == []


async def test_workers_sync_due_repositories_but_never_into_the_reserve(
    database_url: str,
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "a", 80)], seed=8))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/a"])
        await run(engine, sync_every=0)  # 0: this worker does not sync
        assert sync_state(database_url, "o/a")["sync_count"] == 0
        sim.evolve("o/a", changed=4, new=1, seed=2)
        with psycopg.connect(database_url, autocommit=True) as db:  # 16 minutes pass
            db.execute(
                "UPDATE progressive_backfill_state SET completed_at = now() - interval '16 min'"
            )
        reserve = engine.client.min_remaining
        engine.client.min_remaining = 10**9  # the budget is all reserve: no sync
        await run(engine)
        assert sync_state(database_url, "o/a")["sync_count"] == 0
        engine.client.min_remaining = reserve
        worker = await run(engine)  # the default --sync-every (15 min): due, synced
        assert worker.stats.syncs == 1
        assert differences(database_url, sim.truth("o/a")) == []
        await run(engine)  # synced just now: not due again
        assert sync_state(database_url, "o/a")["sync_count"] == 1
