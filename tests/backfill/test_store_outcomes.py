"""Data and the store through the engine: what the database refuses, a list that
ends short of GitHub's count, a renamed repository. Each ends in its outcome in the database,
and nothing is left `processing` behind a live worker."""

from __future__ import annotations

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.simulator import FaultSpec, RepoSpec
from tests.support.answers import run, sim_for, state
from tests.support.harness import cli, engine_env, simulator
from tests.support.worker_runs import settings


async def test_a_nul_in_a_title_is_stored_as_a_replacement_and_the_rest_too(database_url, db):
    """Case 13: the page with the NUL used to be refused whole, over and over."""
    sim = sim_for(RepoSpec("o", "nul", 40))
    sim.override_pull_request("o/nul", 3, title="before\x00after")
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/nul"])
        await run(engine)
    row = state(db)["o/nul"]
    assert (row["status"], row["stored"], row["processing"], row["failed"]) == (
        "completed",
        40,
        0,
        0,
    )
    titles = [r["title"] for r in db.execute("SELECT title FROM pull_requests").fetchall()]
    assert "before\ufffdafter" in titles and not any("\x00" in t for t in titles)


async def test_a_pr_the_database_refuses_fails_alone_the_backfill_completes(database_url, db):
    """Case 13 generalised: one PR's value out of the database's range."""
    sim = sim_for(RepoSpec("o", "big", 30))
    sim.override_pull_request("o/big", 7, additions=2**40)
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/big"])
        await run(engine)
    row = state(db)["o/big"]
    assert (row["status"], row["stored"], row["processing"]) == ("completed", 29, 0)
    assert "the database refused it" in row["last_error"]  # completed, the gap shown
    failure = db.execute("SELECT number, error FROM pull_request_failures").fetchall()
    assert len(failure) == 1 and "out of range" in failure[0]["error"]


async def test_a_list_that_ends_early_is_never_completed(database_url, db):
    """Case 10: GitHub answers a page with no PR and hasNextPage false at 40 of 150."""
    sim = sim_for(RepoSpec("o", "short", 150))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/short"])
        sim.config.faults = FaultSpec.parse("early_end@o/short*1")
        await run(engine, max_runtime=5)  # then it cools down for a minute
        short = state(db)["o/short"]
        # The re-check after the cooldown finds the rest: moved in the database, not slept.
        assert short["status"] == "active" and "it counts" in short["last_error"]
        db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
        await run(engine)
    row = state(db)["o/short"]
    assert (row["status"], row["stored"], row["processing"]) == ("completed", 150, 0)
    assert row["last_error"] is None


async def test_a_list_that_always_ends_early_fails_with_both_numbers(database_url, db):
    sim = sim_for(RepoSpec("o", "never", 150))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/never"])
        sim.config.faults = FaultSpec.parse("early_end@o/never")
        for _ in range(3):
            await run(engine, max_runtime=5)  # each short end cools down for a minute
            db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
    row = state(db)["o/never"]
    assert row["status"] == "failed" and row["processing"] == 0
    assert f"ended at {row['stored']} stored of the 150 it counts" in row["last_error"]


async def test_a_renamed_repository_is_the_same_backfill(database_url, db):
    """Case 16: `add new-owner/new-name` after a backfill under the old name."""
    sim = sim_for(RepoSpec("acme", "old", 60))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["acme/old"])
        await run(engine)
        sim.rename_repository("acme/old", "newco/new")
        [again] = await add_repositories(engine.store, engine.client, ["newco/new"])
        [redirect] = await add_repositories(engine.store, engine.client, ["acme/old"])
        await run(engine)
    assert again.repository == redirect.repository == "newco/new"
    rows = state(db)
    assert list(rows) == ["newco/new"]
    assert (rows["newco/new"]["status"], rows["newco/new"]["stored"]) == ("completed", 60)
    assert rows["newco/new"]["processed_prs"] == rows["newco/new"]["total_prs"] == 60


async def test_a_store_that_refuses_every_commit_fails_chunks_then_the_backfill(database_url, db):
    """Case 15: any error in record/commit used to leave the chunk `processing` while the
    worker looped. Now each fails with its message and a cooldown; the bound ends it."""
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON pull_requests "
        "FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    sim = sim_for(RepoSpec("o", "burning", 30))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/burning"])
        worker = await run(engine)
    row = state(db)["o/burning"]
    assert (row["status"], row["stored"], row["processing"], row["failed"]) == (
        "failed",
        0,
        0,
        3,
    )
    assert all("could not store the page" in e and "disk on fire" in e for e in row["errors"])
    assert "3 chunks failed in a row" in row["last_error"]
    assert worker.stats.pages == 0 and worker.stats.failures >= 3


def test_a_worker_that_stored_nothing_does_not_exit_0(cli_env, db) -> None:
    """Case 15: `worker --until-idle` in cron or Actions must not pass green having failed."""
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON pull_requests "
        "FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    with simulator(["o/burning:20"]) as sim:
        env = engine_env(cli_env, sim)
        added = cli(env, "add", "o/burning")
        assert added.returncode == 0, added.stderr
        # The first chunk fails within a second; then the backfill cools down (5 s, doubling):
        # 8 s of runtime sees one or two failed chunks, and the worker's verdict.
        worker = cli(env, "worker", "--until-idle", "--max-runtime", "8", "-q", timeout=120)
    assert worker.returncode == 1, (worker.stdout, worker.stderr)
    assert "stored nothing" in worker.stderr
    row = state(db)["o/burning"]
    assert row["status"] != "completed" and row["processing"] == 0 and row["stored"] == 0
    assert row["failed"] >= 1 and all("disk on fire" in e for e in row["errors"])
