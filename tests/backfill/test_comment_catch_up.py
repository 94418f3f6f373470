"""Edits and deletions of comments that do not move the PR's updatedAt: after the catch-up
and the verification the database holds every comment's body and updatedAt as GitHub's
truth has them, through both store transports; an unchanged repository costs nothing."""

from __future__ import annotations

from typing import Any

import psycopg

from core.backfill.comment_catch_up import (
    MAX_CONFIRMATIONS,
    VERIFY_EVERY,
    comment_upkeep,
    run_worker,
)
from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.config import Settings
from core.monitoring import collect_stats
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.comment_bodies import stored_bodies as both_bodies
from tests.support.comment_bodies import stored_threads, truth_threads
from tests.support.sync_runs import run, sync_now

REPO = "o/talk"


def stored_bodies(database_url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT c.github_id, c.body, c.updated_at FROM comments c "
            "JOIN pull_requests p ON p.id = c.pull_request_id "
            "JOIN repositories r ON r.id = p.repository_id "
            "WHERE r.owner || '/' || r.name = %s "
            "UNION ALL SELECT c.github_id, c.body, c.updated_at FROM review_comments c "
            "JOIN pull_requests p ON p.id = c.pull_request_id "
            "JOIN repositories r ON r.id = p.repository_id "
            "WHERE r.owner || '/' || r.name = %s",
            (REPO, REPO),
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
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
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
            assert sum(r.updated for r in reports) == 6 + 6  # conversation and inline
            assert sum(r.deleted for r in reports) == 5 + 5

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


async def test_a_catch_up_past_one_page_walks_by_since(
    engine_settings: Settings, database_url: str
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 300)], seed=4))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            await upkeep.run()
            sim.evolve(REPO, edit_comments=250, seed=8)  # 250 PRs: past two pages
            truth = sim.truth(REPO, bodies=True)["bodies"]
            report, _ = await upkeep.run()  # conversation comments, then review comments
            assert report.updated == 250 and report.requests >= 3
            assert stored_bodies(database_url) == truth
            plan, _ = await upkeep.plans()
            newest = max(b["updatedAt"] for k, b in truth.items() if k.startswith("IC_"))
            assert f"{plan.since:%Y-%m-%dT%H:%M:%SZ}" == newest  # the watermark


# Inline review comments: the second listing, under the same rule -----------------------------


def review_edits(sim: Simulator, seed: int, touch_pr: bool = False) -> dict[str, Any]:
    """`evolve` quietly editing 5 and deleting 4 of each kind; checks it did."""
    report = sim.evolve(REPO, edit_comments=5, delete_comments=4, seed=seed, touch_pr=touch_pr)
    for kind in ("comments", "review_comments"):
        assert len(report[f"{kind}_edited"]) == 5
        assert len(report[f"{kind}_deleted_quietly"]) == 4
    return report


async def test_review_comments_quietly_edited_and_deleted_end_equal_to_truth(
    engine_settings: Settings, database_url: str
) -> None:
    """Backfill; GitHub edits and deletes both kinds without moving any PR; what `sync`
    does (the walk, then the catch-up) brings the edits, `sync --verify` the deletions: the
    database's comments and review comments equal the truth (bodies, updatedAt, no deleted
    row) and its threads hold exactly GitHub's review comments."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 150)], seed=12))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        assert both_bodies(database_url, REPO) == sim.truth(REPO, bodies=True)["bodies"]
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            await upkeep.run()  # the first after the backfill: both listings, both verified
            before = updated_ats(sim)
            report = review_edits(sim, seed=6)
            assert updated_ats(sim) == before  # touch_pr false: GitHub moved no PR
            now = sim.truth(REPO, bodies=True)
            truth = now["bodies"]

            # `sync`: the walk by updatedAt, then the catch-up (the verification not due).
            await sync_now(engine)
            caught = await upkeep.run()
            assert {(r.listing, r.kind) for r in caught} == {
                ("comments", "catch_up"),
                ("review_comments", "catch_up"),
            }
            stored = both_bodies(database_url, REPO)
            for node in report["review_comments_edited"] + report["comments_edited"]:
                assert stored[node] == truth[node]
            gone = report["review_comments_deleted_quietly"] + report["comments_deleted_quietly"]
            assert set(stored) - set(truth) == set(gone)  # deletions wait for the verification

            # `sync --verify`: the deletions, each confirmed by a 404.
            verified = await upkeep.run(verify_now=True)
            by_kind = {(r.listing, r.kind): r for r in verified}
            assert by_kind["review_comments", "verify"].deleted == 4
            assert by_kind["comments", "verify"].deleted == 4
            assert both_bodies(database_url) == truth
            assert stored_threads(database_url, REPO) == truth_threads(now)


async def test_a_plain_sync_misses_quiet_review_comment_edits_and_deletions(
    engine_settings: Settings, database_url: str
) -> None:
    """Why the catch-up exists: the sync walks PRs by updatedAt, so changes that do not move
    it are missed; the same changes made with touch_pr are caught by the sync alone."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 150)], seed=12))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        quiet = review_edits(sim, seed=6)
        await sync_now(engine)
        stored, truth = both_bodies(database_url, REPO), sim.truth(REPO, bodies=True)["bodies"]
        assert all(stored[n] != truth[n] for n in quiet["review_comments_edited"])
        assert set(quiet["review_comments_deleted_quietly"]) <= set(stored)

        loud = review_edits(sim, seed=7, touch_pr=True)
        await sync_now(engine)
        stored, truth = both_bodies(database_url, REPO), sim.truth(REPO, bodies=True)["bodies"]
        assert all(stored[n] == truth[n] for n in loud["review_comments_edited"])
        assert not set(loud["review_comments_deleted_quietly"]) & set(stored)


async def test_a_reply_the_database_lacks_joins_its_thread_by_the_catch_up(
    engine_settings: Settings, database_url: str
) -> None:
    """A reply updated on GitHub but not stored (its PR's sync has not run) is inserted into
    the thread of the comment it replies to (REST names that comment, not the thread)."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 150)], seed=12))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            await upkeep.run()
            report = sim.evolve(REPO, edit_comments=12, seed=9)
            with psycopg.connect(database_url) as db:
                dropped = db.execute(
                    "DELETE FROM review_comments WHERE github_id = ANY(%s) "
                    "AND in_reply_to IS NOT NULL RETURNING github_id",
                    (report["review_comments_edited"],),
                ).fetchall()
            assert dropped  # some of the edited ones are replies
            caught = await upkeep.run()
            assert sum(r.inserted for r in caught if r.listing == "review_comments") == len(dropped)
            now = sim.truth(REPO, bodies=True)
            assert both_bodies(database_url, REPO) == now["bodies"]
            assert stored_threads(database_url, REPO) == truth_threads(now)


async def test_the_backfill_command_keeps_the_workers_schedule(
    engine_settings: Settings, database_url: str
) -> None:
    """`run_worker` (the `worker` and `backfill` commands' one schedule): a run that stops
    when idle ends with a pass of what is due: catch-ups every run, a verification only
    when the last is VERIFY_EVERY old (moved back in the database, never slept)."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 150)], seed=12))
    rest_root = engine_settings.rest_api_url

    async def a_run(engine: Any) -> None:
        worker = Worker(
            engine.store,
            engine.client,
            engine.presence,
            WorkerOptions(until_idle=True, idle_interval=0.05),
            lanes=engine.lanes,
        )
        await run_worker(engine, worker, rest_root, transport=sim.transport())

    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await a_run(engine)  # the backfill, then its first catch-up and verification
        plans = await engine.store.comment_catch_up_plan()
        assert sorted(p.kind for p in plans) == ["comments", "review_comments"]
        assert all(p.verified_at is not None for p in plans)

        report = review_edits(sim, seed=6)
        await a_run(engine)
        stored, truth = both_bodies(database_url, REPO), sim.truth(REPO, bodies=True)["bodies"]
        assert all(stored[n] == truth[n] for n in report["review_comments_edited"])
        assert set(report["review_comments_deleted_quietly"]) <= set(stored)  # not yet due

        with psycopg.connect(database_url) as db:  # a day passes for the verification
            db.execute(
                "UPDATE progressive_backfill_state SET "
                "comments_verified_at = comments_verified_at - %s, "
                "review_comments_verified_at = review_comments_verified_at - %s",
                (VERIFY_EVERY, VERIFY_EVERY),
            )
        await a_run(engine)
        assert both_bodies(database_url, REPO) == sim.truth(REPO, bodies=True)["bodies"]


async def test_deletions_past_one_verifications_cap_reach_the_database_at_the_next_pass(
    engine_settings: Settings, database_url: str
) -> None:
    """A verification confirms at most MAX_CONFIRMATIONS candidates; the rest must not wait a
    whole VERIFY_EVERY: the verification is stamped only when complete, so a worker's next
    pass (not forced) goes on and the database equals GitHub's truth."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 300)], seed=4))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            await upkeep.run(verify_now=True)
            gone = sim.evolve(REPO, delete_comments=MAX_CONFIRMATIONS + 50, seed=5)
            assert len(gone["comments_deleted_quietly"]) == MAX_CONFIRMATIONS + 50
            truth = sim.truth(REPO, bodies=True)["bodies"]
            first = await upkeep.run(verify_now=True)
            (capped,) = [r for r in first if r.kind == "verify" and r.listing == "comments"]
            assert capped.deleted == MAX_CONFIRMATIONS
            assert stored_bodies(database_url) != truth

            await upkeep.run(catch_up_now=False)  # a worker's next tick: nothing forced
            assert stored_bodies(database_url) == truth
            plan = next(p for p in await upkeep.plans() if p.kind == "comments")
            assert plan.verified_at is not None  # complete now: stamped
            assert getattr(capped, "left", None) == 50  # `sync --verify` says so


async def test_a_renamed_repositorys_edits_and_deletions_follow_githubs_redirect(
    engine_settings: Settings, database_url: str
) -> None:
    """GitHub answers REST requests under a repository's old name (renamed or transferred)
    with 301 and the new place; GraphQL resolves the old name, so the backfill and the sync
    go on and the stored name stays the old one. The upkeep must follow the redirect: else
    every catch-up and verification of that repository fails and its edits and deletions
    never reach the database."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 120)], seed=9))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            await upkeep.run(verify_now=True)
            sim.rename_repository(REPO, "newco/talk2")
            review = sim.evolve("newco/talk2", edit_comments=4, delete_comments=3, seed=2)
            assert review["comments_edited"] and review["review_comments_deleted_quietly"]
            truth = sim.truth("newco/talk2", bodies=True)["bodies"]
            await sync_now(engine)
            reports = await upkeep.run(verify_now=True)
            assert both_bodies(database_url) == truth
            assert sum(r.updated for r in reports) == 4 + 4
            assert sum(r.deleted for r in reports) == 3 + 3


async def test_candidates_github_still_has_past_the_cap_do_not_make_the_verification_loop(
    engine_settings: Settings, database_url: str
) -> None:
    """Stored comments the listing lacks but GitHub still answers for (kept) are confirmed
    again at every verification: past the cap, with none deleted, the verification is
    stamped (not due again at the next pass), else it would spend MAX_CONFIRMATIONS REST
    requests a minute for nothing."""
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 120)], seed=9))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [REPO])
        await run(engine, sync_every=0)
        with psycopg.connect(database_url, autocommit=True) as db:
            # rows GitHub's listing lacks, each naming a comment GitHub has (kept when asked)
            db.execute(
                "INSERT INTO comments (pull_request_id, github_id, database_id, body, "
                "created_at, updated_at) "
                "SELECT c.pull_request_id, 'IC_unlisted_' || n, c.database_id, 'x', "
                "c.created_at, c.updated_at FROM generate_series(1, %s) n, "
                "(SELECT * FROM comments ORDER BY github_id LIMIT 1) c",
                (MAX_CONFIRMATIONS + 20,),
            )
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            first = await upkeep.run(verify_now=True)
            (check,) = [r for r in first if r.kind == "verify" and r.listing == "comments"]
            assert (check.deleted, check.kept, check.left) == (0, MAX_CONFIRMATIONS, 20)
            plan = next(p for p in await upkeep.plans() if p.kind == "comments")
            assert plan.verified_at is not None  # stamped: not due again at the next pass
            again = await upkeep.run(catch_up_now=False)
            assert not [r for r in again if r.kind == "verify"]
