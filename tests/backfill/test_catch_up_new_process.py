"""The comment catch-up's ETags live in the database, not in one process: a `sync` run as a
new process (its own engine and REST clients, nothing in memory) after one that caught up
asks every listing conditionally and GitHub answers 304, so the REST budget charged in
`/_sim/stats` does not grow; a quiet edit (touch_pr false) changes the listing and the next
`sync` brings it, through both store transports."""

from __future__ import annotations

from typing import Any

import psycopg

from core.backfill.comment_catch_up import UpkeepReport, comment_upkeep
from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.config import Settings
from core.simulator import RepoSpec, SimConfig, Simulator
from tests.support.comment_bodies import stored_bodies
from tests.support.sync_runs import run, sync_now

TALK, QUIET = "o/talk", "o/quiet"


def charged(sim: Simulator) -> int:
    """REST requests GitHub counted against the tokens' budgets (304s are not)."""
    used: dict[str, Any] = sim.stats()["rest"]["used"]
    return sum(used.values())


async def a_sync(settings: Settings, sim: Simulator) -> list[UpkeepReport]:
    """`backfill-console sync` as a new process runs it: its own engine and REST clients
    (an empty in-memory cache), the walk by updatedAt, then the catch-up."""
    async with open_engine(settings, transport=sim.transport()) as engine:
        await sync_now(engine)
        async with comment_upkeep(engine, "https://sim", transport=sim.transport()) as upkeep:
            assert upkeep is not None
            return await upkeep.run()


def stored_etags(database_url: str) -> list[tuple[str | None, str | None]]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT comments_etag, review_comments_etag FROM progressive_backfill_state"
        ).fetchall()
    return [(a, b) for a, b in rows]


async def test_a_new_sync_with_nothing_changed_costs_no_rest_budget(
    engine_settings: Settings, database_url: str
) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "talk", 120), RepoSpec("o", "quiet", 40)]))
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, [TALK, QUIET])
        await run(engine, sync_every=0)
    # The first `sync`: full answers to the catch-ups (their ETags kept) and the first
    # verifications.
    first = [r for r in await a_sync(engine_settings, sim) if r.kind == "catch_up"]
    assert len(first) == 4 and not any(r.not_modified for r in first)
    etags = stored_etags(database_url)
    assert len(etags) == 2 and all(a and b for a, b in etags)

    # A second `sync`, a new process, nothing changed on GitHub: every listing is a 304.
    used = charged(sim)
    second = await a_sync(engine_settings, sim)
    assert [(r.requests, r.not_modified) for r in second] == [(1, 1)] * 4
    assert charged(sim) == used  # not one request counted
    assert stored_etags(database_url) == etags  # nothing written

    # A quiet edit changes the listing: the next `sync` asks, is answered 200, and stores it.
    report = sim.evolve(TALK, edit_comments=5, seed=3, touch_pr=False)
    edited = report["comments_edited"] + report["review_comments_edited"]
    assert len(edited) == 10
    third = await a_sync(engine_settings, sim)
    assert sum(r.updated for r in third) == 10
    for repo in (TALK, QUIET):
        assert stored_bodies(database_url, repo) == sim.truth(repo, bodies=True)["bodies"]

    # The edited repository's watermark moved (a new URL): one charged request per listing
    # tags it, then nothing again.
    used = charged(sim)
    await a_sync(engine_settings, sim)
    assert charged(sim) == used + 2
    quiet = await a_sync(engine_settings, sim)
    assert charged(sim) == used + 2
    assert all(r.not_modified == r.requests == 1 for r in quiet)
