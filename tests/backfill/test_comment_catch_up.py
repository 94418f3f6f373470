"""Edits and deletions of comments that do not move the PR's updatedAt: after the catch-up
and the verification the database holds every comment's body and updatedAt as GitHub's
truth has them, through both store transports; an unchanged repository costs nothing."""

from __future__ import annotations

from typing import Any

import psycopg

from core.backfill.comment_catch_up import upkeep_for
from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.config import Settings
from core.monitoring import collect_stats
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.sync_runs import run, sync_now

REPO = "o/talk"


def stored_bodies(database_url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT c.github_id, c.body, c.updated_at FROM comments c "
            "JOIN pull_requests p ON p.id = c.pull_request_id "
            "JOIN repositories r ON r.id = p.repository_id "
            "WHERE r.owner || '/' || r.name = %s",
            (REPO,),
        ).fetchall()
    return {
        gid: {"body": body, "updatedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for gid, body, at in rows
    }


def updated_ats(sim: Simulator) -> dict[int, str]:
    return {pr["number"]: pr["updatedAt"] for pr in sim.truth(REPO)["pull_requests"]}


def rest_used(sim: Simulator) -> int:
    used: dict[str, Any] = sim.stats()["rest"]["used"]
    return sum(used.values())


async def test_quiet_edits_and_deletions_reach_the_database(
    engine_settings: Settings, database_url: str
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 120)], seed=9))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        assert stored_bodies(database_url) == sim.truth(REPO, bodies=True)["bodies"]
        upkeep, clients = upkeep_for(
            engine.store, engine.lanes, "https://sim", transport=sim.transport()
        )
        try:
            await upkeep.run(verify_now=True)  # the first: reads what the backfill read
            before = updated_ats(sim)
            report = sim.evolve(REPO, edit_comments=6, delete_comments=5, seed=3)
            assert len(report["comments_edited"]) == 6
            assert len(report["comments_deleted_quietly"]) == 5
            assert updated_ats(sim) == before  # GitHub did not move the PRs
            truth = sim.truth(REPO, bodies=True)["bodies"]
            assert stored_bodies(database_url) != truth

            # The sync by updatedAt sees nothing; the catch-up and verification do.
            await sync_now(engine)
            assert stored_bodies(database_url) != truth
            reports = await upkeep.run(verify_now=True)
            assert stored_bodies(database_url) == truth
            assert sum(r.updated for r in reports) == 6
            assert sum(r.deleted for r in reports) == 5

            # Nothing changed since: past one request from the moved watermark, every
            # request is a 304 and the REST budget is untouched.
            await upkeep.run()
            used = rest_used(sim)
            again = await upkeep.run(verify_now=True)
            assert rest_used(sim) == used
            assert sum(r.requests for r in again) == sum(r.not_modified for r in again) > 0
            assert stored_bodies(database_url) == truth

            # Both budgets are published: `stats --json` lists them apart.
            budgets = (await collect_stats(engine.store)).to_json()
            (rest,) = budgets["rest"]
            assert rest["limit"] == 5000 and rest["remaining"] == 5000 - used
            assert rest["name"].endswith("(REST)")
            assert budgets["graphql"] and all(
                b["resource"] == "graphql" for b in budgets["graphql"]
            )
        finally:
            for client in clients:
                await client.aclose()


async def test_a_catch_up_past_one_page_walks_by_since(
    engine_settings: Settings, database_url: str
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 300)], seed=4))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        upkeep, clients = upkeep_for(
            engine.store, engine.lanes, "https://sim", transport=sim.transport()
        )
        try:
            await upkeep.run()
            sim.evolve(REPO, edit_comments=250, seed=8)  # 250 PRs: past two pages
            truth = sim.truth(REPO, bodies=True)["bodies"]
            (report,) = await upkeep.run()
            assert report.updated == 250 and report.requests >= 3
            assert stored_bodies(database_url) == truth
            (plan,) = await upkeep.plans()
            newest = max(b["updatedAt"] for b in truth.values())
            assert f"{plan.since:%Y-%m-%dT%H:%M:%SZ}" == newest  # the watermark
        finally:
            for client in clients:
                await client.aclose()
