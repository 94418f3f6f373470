"""The comment catch-up and verification (issue 28): REST requests per repository per day.

One simulated repository is backfilled into a scratch Postgres; then a day passes on the
workers' schedule (core.backfill.comment_catch_up: a catch-up of each listing, conversation
comments and inline review comments, every 15 minutes, 96 a day, and one verification of
each), while GitHub edits K = 1% of the repository's conversation comments and deletes 0.2%
of them, and as many of its review comments (`evolve` edits and deletes K of each kind),
without moving any PR's updatedAt, spread over 8 moments of the day. Counted: every REST
request, and those the budget counts (a 304 costs nothing), both listings together. Each
catch-up run is made with new REST clients, nothing in memory, as a new `sync` process or a
restarted worker makes it: its first pages' ETags come from the database. The verification
is a long-lived worker's (its pages' ETags are kept in that process's memory).
Reference: a naive upkeep that re-lists every comment and review comment at each of the 96
runs. At the end the database's comments and review comments equal `/_sim/truth?bodies=1`
(checked).

Usage: python bench/bench_comment_upkeep.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import Any

from support import figure, print_figures, scratch_database, worker_gc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.backfill.comment_catch_up import (  # noqa: E402
    CATCH_UP_EVERY,
    catch_up,
    upkeep_for,
    verify,
)
from core.backfill.registry import add_repositories  # noqa: E402
from core.backfill.runtime import open_engine  # noqa: E402
from core.backfill.worker import Worker, WorkerOptions  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.simulator import RepoSpec, SimConfig, Simulator  # noqa: E402

REPO = "bench/talk"
RUNS = int(86_400 // CATCH_UP_EVERY.total_seconds())  # 96
EDITED, DELETED, MOMENTS = 0.01, 0.002, 8


def _settings(url: str):
    return load_settings(
        database_url=url, github_token="bench-token", github_graphql_url="https://sim/graphql"
    )


def _stored(url: str) -> dict[str, dict[str, str]]:
    import psycopg

    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT github_id, body, updated_at FROM comments "
            "UNION ALL SELECT github_id, body, updated_at FROM review_comments"
        ).fetchall()
    return {g: {"body": b, "updatedAt": f"{u:%Y-%m-%dT%H:%M:%SZ}"} for g, b, u in rows}


async def _measure(prs: int) -> dict[str, float]:
    sim = Simulator(SimConfig(repos=[RepoSpec("bench", "talk", prs)], seed=28, limit=10**9))
    out: dict[str, float] = {}
    with scratch_database("bench_upkeep") as url, worker_gc():
        async with open_engine(_settings(url), transport=sim.transport()) as engine:
            await add_repositories(engine.store, engine.client, [REPO])
            worker = Worker(
                engine.store,
                engine.client,
                engine.presence,
                WorkerOptions(until_idle=True, idle_interval=0.05, sync_every=0),
            )
            await worker.run()
            upkeep, clients = upkeep_for(
                engine.store, engine.lanes, "https://sim", transport=sim.transport()
            )
            ids = sim.truth(REPO, bodies=True)["bodies"]
            comments = sum(1 for node in ids if node.startswith("IC_"))
            review_comments = len(ids) - comments
            for plan in await upkeep.plans():  # both listings
                await catch_up(engine.store, clients[0], plan)  # the first, after the backfill
                await verify(engine.store, clients[0], plan)
            start = dict(sim.rest.counts)
            used0 = sum(b.used for b in sim.rest.budgets.values())
            every = RUNS // MOMENTS
            for run in range(RUNS):
                if run % every == 0:
                    sim.evolve(
                        REPO,
                        edit_comments=max(1, round(comments * EDITED / MOMENTS)),
                        delete_comments=max(1, round(comments * DELETED / MOMENTS)),
                        seed=run,
                    )
                _, fresh = upkeep_for(  # a new process: no REST client's memory
                    engine.store, engine.lanes, "https://sim", transport=sim.transport()
                )
                for plan in await upkeep.plans():
                    await catch_up(engine.store, fresh[0], plan)
                for client in fresh:
                    await client.aclose()
            checked = [await verify(engine.store, clients[0], p) for p in await upkeep.plans()]
            out["requests"] = sim.rest.counts["requests"] - start["requests"]
            out["counted"] = sum(b.used for b in sim.rest.budgets.values()) - used0
            out["verify_requests"] = sum(c.requests for c in checked)
            out["comments"] = comments
            out["review_comments"] = review_comments
            for client in clients:
                await client.aclose()
        if _stored(url) != sim.truth(REPO, bodies=True)["bodies"]:
            raise AssertionError("after a day of upkeep the database differs from the truth")
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    prs = 200 if quick else 1000
    m = asyncio.run(_measure(prs))
    naive = RUNS * (math.ceil(m["comments"] / 100) + math.ceil(m["review_comments"] / 100))
    setup = (
        f"1 repository, {prs} PRs, {int(m['comments']):,} comments and "
        f"{int(m['review_comments']):,} review comments, a day: {RUNS} catch-ups + "
        f"1 verification of each listing, each catch-up run a new process, "
        f"{EDITED:.0%} of the comments' count edited and "
        f"{DELETED:.1%} deleted quietly, of each kind"
    )
    return [
        figure(
            "comment upkeep (issue 28)",
            f"REST requests the budget counts per repository per day ({setup})",
            m["counted"],
            "requests/day",
            "re-listing every comment and review comment at each catch-up",
            naive,
            "a small fraction of re-listing (ratio < 0.1)",
            m["counted"] < naive / 10,
            note=(
                f"all requests incl. free 304s: {int(m['requests'])}; "
                f"of which the verification: {int(m['verify_requests'])}"
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print_figures(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
