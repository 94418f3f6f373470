"""GitHub's answers through the engine: each shape served by the simulator ends in
its outcome, visible in the database (chunk status and error, backfill status and reason,
rows stored), and nothing is left `processing`."""

from __future__ import annotations

import time
from uuid import UUID

from core.backfill.registry import add_repositories
from core.backfill.runtime import Engine, open_engine
from core.github import GitHubClient
from core.simulator import FaultSpec, RepoSpec
from tests.support.answers import run, sim_for, state
from tests.support.worker_runs import settings


async def test_saml_fails_that_backfill_with_the_reason_others_complete(database_url, db):
    sim = sim_for(RepoSpec("acme", "secret", 60), RepoSpec("o", "open", 90))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["acme/secret", "o/open"])
        sim.config.faults = FaultSpec.parse("saml@acme/secret")
        await run(engine)
    rows = state(db)
    assert rows["acme/secret"]["status"] == "failed"
    assert "SAML SSO authorisation" in rows["acme/secret"]["last_error"]
    assert "'acme'" in rows["acme/secret"]["last_error"]
    assert rows["acme/secret"]["stored"] == 0 and rows["acme/secret"]["failed"] == 1
    assert rows["o/open"]["status"] == "completed" and rows["o/open"]["stored"] == 90
    assert all(r["processing"] == 0 for r in rows.values())


async def test_went_wrong_shrinks_and_completes(database_url, db):  # case 1
    sim = sim_for(RepoSpec("o", "slow", 200))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/slow"])
        sim.config.faults = FaultSpec.parse("went_wrong@o/slow*2")
        worker = await run(engine)
    row = state(db)["o/slow"]
    assert (row["status"], row["stored"], row["processing"]) == ("completed", 200, 0)
    assert row["failed"] == 2
    assert all("timed out" in e and "smaller page" in e for e in row["errors"])
    assert worker.stats.failures == 2


async def test_a_pr_gone_at_its_follow_up_is_refused_alone_then_stored_by_its_retry(
    database_url, db
):
    """A PR GitHub no longer resolves when its remaining reviews are asked for (NOT_FOUND at
    the follow-up's alias) is refused alone with GitHub's words, never stored short; its page
    commits. Asked for again alone later (here: the next sync, its backoff moved back in the
    database), it is stored whole and its failure cleared."""
    sim = sim_for(RepoSpec("o", "del", 120))
    repo = sim.world.repos[0]
    number = next(
        repo.pull_request(i)["number"]
        for i in range(repo.count)
        if repo.pull_request(i)["_counts"][0] > 100
    )
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/del"])
        sim.config.faults = FaultSpec.parse(f"vanish@o/del#{number}*1")
        await run(engine)
        row = state(db)["o/del"]
        assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
            "completed",
            119,  # + 1 refused = GitHub's 120
            0,
            0,
        )
        failure = db.execute("SELECT number, error, attempts FROM pull_request_failures").fetchone()
        assert failure["number"] == number and failure["attempts"] == 1
        assert "NOT_FOUND" in failure["error"] and "Could not resolve" in failure["error"]
        assert "1 PR(s) refused" in row["last_error"]
        db.execute("UPDATE pull_request_failures SET failed_at = failed_at - interval '1 hour'")
        await engine.store.request_sync()
        await run(engine, sync_only=True)
    row = state(db)["o/del"]
    assert (row["status"], row["stored"]) == ("completed", 120)
    assert db.execute("SELECT count(*) AS n FROM pull_request_failures").fetchone()["n"] == 0
    reviews = db.execute(
        "SELECT count(*) AS n FROM reviews r JOIN pull_requests p ON p.id = r.pull_request_id "
        "WHERE p.number = %s",
        (number,),
    ).fetchone()["n"]
    assert reviews == repo.pull_request(repo.index_of(number)[1])["_counts"][0]  # none dropped


async def test_a_repeated_page_is_never_committed_again(database_url, db):  # case 7
    sim = sim_for(RepoSpec("o", "proxy", 300))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/proxy"])
        sim.config.faults = FaultSpec.parse("repeat_page@o/proxy")
        await run(engine)
    row = state(db)["o/proxy"]
    assert row["status"] == "failed" and "chunks failed in a row" in row["last_error"]
    assert row["processed_prs"] == row["stored"] < 300  # the first page(s), once
    assert row["failed"] == 3 and row["processing"] == 0
    assert all("repeats" in e or "same cursor" in e for e in row["errors"])
    assert db.execute("SELECT count(*) AS n FROM backfill_chunks WHERE status = 'completed'")


async def test_more_without_a_cursor_refuses_that_pr_never_stored_short(database_url, db):
    """Its reviews say "more" but give no cursor: that PR alone is refused (never stored with
    100 of its reviews), the rest of the repository completes."""
    sim = sim_for(RepoSpec("o", "long", 120))
    repo = sim.world.repos[0]
    number = next(
        repo.pull_request(i)["number"]
        for i in range(repo.count)
        if repo.pull_request(i)["_counts"][0] > 100
    )
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/long"])
        sim.config.faults = FaultSpec.parse(f"null_cursor@o/long#{number}")
        await run(engine)
    row = state(db)["o/long"]
    assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
        "completed",
        119,
        0,
        0,
    )
    failure = db.execute("SELECT number, error FROM pull_request_failures").fetchone()
    assert failure["number"] == number and "no cursor" in failure["error"]
    stored = db.execute("SELECT count(*) AS n FROM pull_requests WHERE number = %s", (number,))
    assert stored.fetchone()["n"] == 0  # never stored with 100 of its reviews


async def test_a_body_that_breaks_its_encoding_fails_the_chunk_never_processing(database_url, db):
    sim = sim_for(RepoSpec("o", "gz", 50))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/gz"])
        sim.config.faults = FaultSpec.parse("bad_encoding@o/gz*6")  # one chunk's 6 tries
        engine.client._gate.sleep = _no_sleep  # the client's in-place backoff, not under test
        await run(engine)
    row = state(db)["o/gz"]
    assert (row["status"], row["stored"], row["processing"]) == ("completed", 50, 0)
    assert row["failed"] == 1 and "Content-Encoding" in row["errors"][0]


async def _no_sleep(seconds: float) -> None:
    return None


async def test_clock_two_minutes_ahead_fails_no_chunk(database_url, db):  # case 4
    """GitHub's budget runs out mid-backfill; the worker's clock is 2 min ahead, so every
    reset looks past. With the offset read from `Date`, it waits GitHub's reset: no chunk
    fails and GitHub never has to say RATE_LIMITED more than once per window."""
    # 120 PRs at 3 points per 2 s window: the budget runs out several times (each wait is a
    # real window, so more PRs only make the test longer).
    sim = sim_for(RepoSpec("o", "skew", 120), limit=3, window_seconds=2)
    # A 3-point budget: the default reserve (500) could never be kept, and is refused.
    no_reserve = settings(database_url).model_copy(update={"min_graphql_points": 0})
    async with open_engine(no_reserve, transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/skew"])
    client = GitHubClient(
        "simulator-token",
        "http://sim/graphql",
        transport=sim.transport(),
        min_remaining=0,
        clock=lambda: time.time() + 120,
    )
    async with open_engine(settings(database_url), transport=sim.transport()) as base, client:
        engine = Engine(base.store, client, base.presence)
        await run(engine)
    row = state(db)["o/skew"]
    assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
        "completed",
        120,
        0,
        0,
    )
    assert sim.stats()["outcomes"].get("rate_limited", 0) <= 2


_ = UUID
