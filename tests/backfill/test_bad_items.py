"""One bad item never sinks a page: the smallest unit that is bad is the one refused.

Each kind of bad item the simulator can aim at one PR (core/simulator/item_faults.py) goes
through the engine in a backfill and in a sync, through both transports (psycopg, and the
real PostgREST of tests/store/supabase): every good PR of the page is stored, the cursor or the
watermark moves on, and the bad unit is the only one touched - its text made storable and
counted, or the PR refused alone and named in pull_request_failures (GitHub's words when it
gave some), the chunk's error and the backfill's last_error; later it is asked for again
alone, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from rich.console import Console

from console.commands.stats import render
from console.panels.detail_state import detail_summary
from console.panels.repositories import repository_cells
from core.backfill.registry import add_repositories
from core.backfill.runtime import Engine, open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.monitoring import collect_stats
from core.simulator import FaultSpec, RepoSpec, Simulator
from tests.support.answers import sim_for, state

REPO = "o/items"
PRS = 30


async def run(engine: Engine, events: list[str], **options: Any) -> Worker:
    opts: dict[str, Any] = dict(
        until_idle=True, idle_interval=0.05, max_failures_in_a_row=3, cooldown_base=1
    )
    opts.update({"max_runtime": 60, "sync_every": 0, **options})
    worker = Worker(
        engine.store, engine.client, engine.presence, WorkerOptions(**opts), on_event=events.append
    )
    await worker.run()
    return worker


async def sync(engine: Engine, events: list[str]) -> Worker:
    await engine.store.request_sync()
    return await run(engine, events, sync_only=True)


def pick(sim: Simulator, fits: Callable[[dict[str, Any]], bool], among=None) -> int:
    """The number of a PR (past the first few) that `fits`, among `among` numbers if given."""
    repo = sim.world.repos[0]
    for i in range(5, repo.count):
        pr = repo.pull_request(i)
        if (among is None or pr["number"] in among) and fits(pr):
            return int(pr["number"])
    raise AssertionError("no PR fits")


def first_of_walk(sim: Simulator, order: str) -> int:
    """The number of the PR a walk in `order` lists first (no cursor before it): the oldest
    for a backfill (CREATED_AT ASC, the simulator's index order), the last updated for a
    sync (UPDATED_AT DESC)."""
    repo = sim.world.repos[0]
    if order == "CREATED_AT ASC":
        return int(repo.pull_request(0)["number"])
    newest = max(range(repo.count), key=lambda i: (repo.meta(i)[1], i))
    return int(repo.pull_request(newest)["number"])


def aimed(case: str) -> tuple[str, bool]:
    """A REFUSALS case's fault kind, and whether it is aimed at its walk's first PR."""
    kind, _, where = case.partition("@")
    return kind, where == "first"


NEEDS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "title": lambda pr: True,
    "body": lambda pr: True,
    "review": lambda pr: pr["_counts"][0] > 0,
    "comment": lambda pr: pr["_counts"][1] > 0,
    "login": lambda pr: bool(pr["author"]),
    "label": lambda pr: bool(pr["_labels"]),
}
REPLACED = {
    "title": "SELECT title AS t FROM pull_requests WHERE number = %s",
    "body": "SELECT body AS t FROM pull_requests WHERE number = %s",
    "review": "SELECT string_agg(r.body, '|') AS t FROM reviews r "
    "JOIN pull_requests p ON p.id = r.pull_request_id WHERE p.number = %s",
    "comment": "SELECT string_agg(c.body, '|') AS t FROM comments c "
    "JOIN pull_requests p ON p.id = c.pull_request_id WHERE p.number = %s",
    "label": "SELECT array_to_string(labels, '|') AS t FROM pull_requests WHERE number = %s",
}
# An account's login is the same on every PR it wrote: a later page sets it back to the clean
# login, so for `login` the end state is the PR stored with its author linked.
AUTHOR = (
    "SELECT ct.login AS t FROM pull_requests p JOIN contributors ct ON ct.id = p.author_id "
    "WHERE p.number = %s"
)


def failures(db: psycopg.Connection) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT f.github_id, f.number, f.error, f.attempts, f.position_cursor, "
        "f.position_order, c.status AS chunk_status, c.error AS chunk_error, c.kind "
        "FROM pull_request_failures f LEFT JOIN backfill_chunks c ON c.id = f.chunk_id"
    ).fetchall()


def numbers(db: psycopg.Connection) -> set[int]:
    return {r["number"] for r in db.execute("SELECT number FROM pull_requests").fetchall()}


async def backfilled(engine: Engine, sim: Simulator, events: list[str], faults: str = "") -> None:
    await add_repositories(engine.store, engine.client, [REPO])
    sim.config.faults = FaultSpec.parse(faults) if faults else None
    await run(engine, events)


async def changed_then_synced(
    engine: Engine, sim: Simulator, events: list[str], fits, fault: str, first: bool = False
) -> tuple[int, set[int]]:
    """A clean backfill; GitHub changes 8 PRs; `fault` aimed at one of them (FAULT@...#N,
    `{n}` in it; with `first`, the one the sync lists first), then a sync. Returns that PR's
    number and every changed number."""
    await backfilled(engine, sim, events)
    report = sim.evolve(REPO, changed=8, seed=3)
    changed = set(report["changed"])
    number = first_of_walk(sim, "UPDATED_AT DESC") if first else pick(sim, fits, among=changed)
    assert number in changed
    sim.config.faults = FaultSpec.parse(fault.format(n=number))
    await sync(engine, events)
    return number, changed


async def shown_refused(engine: Engine) -> tuple[int, str, str, str]:
    """What `stats` (text) and the console (the repository's row, its detail) say of the
    refused PRs: the progress row's count and the words each shows."""
    report = await collect_stats(engine.store)
    [progress] = report.progress
    console = Console(record=True, width=200)
    render(report, console)
    stats_text = console.export_text()
    row = str(repository_cells(progress)[1])
    detail = await engine.store.backfill_detail(progress.backfill_state_id)
    assert detail is not None
    summary = str(detail_summary(detail, progress, None))

    def said(text: str, words: str) -> str:
        return words if words in text else text

    return (
        progress.refused_prs,
        said(stats_text, f"({progress.refused_prs} refused)"),
        said(row, f"({progress.refused_prs} refused)"),
        said(summary, f"{progress.refused_prs} refused (see pull_request_failures)"),
    )


def titles(db: psycopg.Connection) -> dict[int, str]:
    return {
        r["number"]: r["title"]
        for r in db.execute("SELECT number, title FROM pull_requests").fetchall()
    }


# -- 1. text the store cannot hold: made storable, counted, the rest as sent ---------------


@pytest.mark.parametrize("field", list(NEEDS))
async def test_a_lone_surrogate_is_stored_as_a_replacement_in_a_backfill(
    engine_settings, db, field
):
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, NEEDS[field])
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"surrogate.{field}@{REPO}#{number}")
    row = state(db)[REPO]
    assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
        "completed",
        PRS,
        0,
        0,
    )
    assert failures(db) == [] and sim.stats()["faults"]["surrogate"] >= 1
    text = db.execute(REPLACED.get(field, AUTHOR), (number,)).fetchone()["t"]
    assert ("\ufffd" in text or field == "login") and "\ud800" not in text
    assert any("stored as U+FFFD" in e and "lone surrogates" in e for e in events), events


@pytest.mark.parametrize("field", list(NEEDS))
async def test_a_lone_surrogate_is_stored_as_a_replacement_in_a_sync(engine_settings, db, field):
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        number, changed = await changed_then_synced(
            engine, sim, events, NEEDS[field], f"surrogate.{field}@{REPO}#{{n}}"
        )
    assert failures(db) == [] and sim.stats()["faults"]["surrogate"] >= 1
    text = db.execute(REPLACED.get(field, AUTHOR), (number,)).fetchone()["t"]
    assert "\ufffd" in text or (field == "login" and text)
    assert any("stored as U+FFFD" in e for e in events), events
    stored = titles(db)
    truth = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    for other in changed - {number}:  # every other change stored as GitHub holds it
        assert stored[other] == truth[other]
    assert state(db)[REPO]["stored"] == PRS


# -- 2-5. one PR's own data short, forbidden, missing: that PR alone refused ----------------

REFUSALS = {
    # fault: (what the PR needs, words its failure must hold, whether it keeps its number)
    "short_list": (lambda pr: True, "GitHub counts (no next page)", True),
    "forbidden": (lambda pr: True, "FORBIDDEN at repository.pullRequests.edges.", False),
    "null_node": (lambda pr: True, "a null node", False),
    # The edge itself null: keyed from the cursor before it (`cursor:<cursor>+k`).
    "null_edge": (lambda pr: True, "FORBIDDEN at repository.pullRequests.edges.", False),
    "null_edge_bare": (lambda pr: True, "a null edge", False),
    # The error's edge index a string ("7"): read as the index.
    "forbidden_text_index": (lambda pr: True, "FORBIDDEN at repository.pullRequests.edges.", False),
    # A null edge the walk lists first (no cursor before it): keyed from its walk's start
    # (`cursor:start of <order>+1`), asked for again from there in that order.
    "null_edge_bare@first": (lambda pr: True, "a null edge", False),
}


@pytest.mark.parametrize("fault", list(REFUSALS))
async def test_one_bad_pr_is_refused_alone_in_a_backfill(engine_settings, db, fault):
    fits, words, numbered = REFUSALS[fault]
    fault, first = aimed(fault)
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = first_of_walk(sim, "CREATED_AT ASC") if first else pick(sim, fits)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"{fault}@{REPO}#{number}")
        shown = await shown_refused(engine)
    assert shown == (1, "(1 refused)", "(1 refused)", "1 refused (see pull_request_failures)")
    row = state(db)[REPO]
    # Every other PR stored; stored + refused = GitHub's count: completed, nothing failed.
    assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
        "completed",
        PRS - 1,
        0,
        0,
    )
    assert number not in numbers(db)  # never stored short
    [failure] = failures(db)
    assert words in failure["error"], failure
    if fault in ("forbidden", "null_edge", "forbidden_text_index"):
        assert "Resource not accessible by integration" in failure["error"]  # GitHub's words
    if fault.startswith("null_edge"):
        assert "+1" in failure["github_id"]
    if numbered:
        assert failure["number"] == number
    else:  # no node, no id: named by its cursor, with its position to ask for it again
        assert failure["github_id"].startswith("cursor:") and failure["number"] is None
        assert failure["position_order"] == "CREATED_AT ASC"
    if first:  # no cursor before it: its place is the walk's start
        assert failure["github_id"] == "cursor:start of CREATED_AT ASC+1"
        assert failure["position_cursor"] is None
    assert failure["attempts"] == 1 and failure["chunk_status"] == "completed"
    assert "1 PR(s) refused" in failure["chunk_error"]
    assert "1 PR(s) refused" in row["last_error"]
    assert any("1 PR(s) refused" in e for e in events), events


@pytest.mark.parametrize("fault", list(REFUSALS))
async def test_one_bad_pr_is_refused_alone_in_a_sync(engine_settings, db, fault):
    fits, words, numbered = REFUSALS[fault]
    fault, first = aimed(fault)
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        before = None
        number, changed = await changed_then_synced(
            engine, sim, events, fits, f"{fault}@{REPO}#{{n}}", first
        )
        before = state(db)[REPO]
    assert before is not None
    [failure] = failures(db)
    assert words in failure["error"] and failure["kind"] == "sync"
    if numbered:
        assert failure["number"] == number
    else:
        assert failure["position_order"] == "UPDATED_AT DESC"
    if first:  # the sync's start: another place than the backfill's start
        assert failure["github_id"] == "cursor:start of UPDATED_AT DESC+1"
    # Every other change stored, the walk finished (watermark moved, no walk left open).
    stored = titles(db)
    truth = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    assert all(stored[n] == truth[n] for n in changed - {number})
    synced = db.execute(
        "SELECT sync_cursor, sync_count, sync_watermark, last_error FROM progressive_backfill_state"
    ).fetchone()
    assert synced["sync_cursor"] is None and synced["sync_count"] == 1
    assert synced["sync_watermark"] is not None and "1 PR(s) refused" in synced["last_error"]


# -- 5. enum values GitHub adds later: stored as sent, reported ------------------------------


async def test_a_state_github_added_later_is_stored_and_reported_in_a_backfill(engine_settings, db):
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, lambda pr: pr["_counts"][0] > 0)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"new_state@{REPO}#{number}")
    row = state(db)[REPO]
    assert (row["status"], row["stored"], row["failed"]) == ("completed", PRS, 0)
    assert failures(db) == []
    pr = db.execute("SELECT id, state FROM pull_requests WHERE number = %s", (number,)).fetchone()
    assert pr["state"] == "QUEUED"
    review_states = db.execute(
        "SELECT DISTINCT state FROM reviews WHERE pull_request_id = %s", (pr["id"],)
    ).fetchall()
    assert [r["state"] for r in review_states] == ["REQUESTED"]
    assert any("added since this version" in e and "'QUEUED'" in e for e in events), events


async def test_a_state_github_added_later_is_stored_and_reported_in_a_sync(engine_settings, db):
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        number, _ = await changed_then_synced(
            engine, sim, events, lambda pr: True, f"new_state@{REPO}#{{n}}"
        )
    assert failures(db) == []
    stored = db.execute("SELECT state FROM pull_requests WHERE number = %s", (number,))
    assert stored.fetchone()["state"] == "QUEUED"
    assert any("'QUEUED'" in e for e in events)


# -- 6. refused, then asked for again alone, a bounded number of times ----------------------


def backoff_passed(db: psycopg.Connection) -> None:
    """Time moved in the database: every refusal's backoff has passed."""
    db.execute("UPDATE pull_request_failures SET failed_at = failed_at - interval '1 day'")


@pytest.mark.parametrize("fault", list(REFUSALS))
async def test_a_refused_pr_is_stored_by_its_retry_alone(engine_settings, db, fault):
    """Refused once (the fault served once), asked for again alone by the next sync (by id,
    number or position): stored whole, its failure cleared, the count complete."""
    fits, _, _ = REFUSALS[fault]
    fault, first = aimed(fault)
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = first_of_walk(sim, "CREATED_AT ASC") if first else pick(sim, fits)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"{fault}@{REPO}#{number}*1")
        assert number not in numbers(db) and len(failures(db)) == 1
        backoff_passed(db)
        await sync(engine, events)
    assert failures(db) == []
    assert numbers(db) == {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}
    truth = next(pr for pr in sim.truth(REPO)["pull_requests"] if pr["number"] == number)
    comments = db.execute(
        "SELECT count(*) AS n FROM comments c JOIN pull_requests p ON p.id = c.pull_request_id "
        "WHERE p.number = %s",
        (number,),
    ).fetchone()["n"]
    assert comments == len(truth["comments"])  # whole, not short
    assert state(db)[REPO]["processed_prs"] == PRS


async def test_a_null_edge_a_sync_lists_first_is_stored_by_its_retry_in_the_syncs_order(
    engine_settings, db
):
    """Refused at the sync's start (no cursor before it), asked for again from that start in
    the sync's order (UPDATED_AT DESC): the PR GitHub lists first there is stored as GitHub
    has it, its failure cleared; never another PR (the backfill's order's first) in its
    stead."""
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        number, _ = await changed_then_synced(
            engine, sim, events, lambda pr: True, f"null_edge_bare@{REPO}#{{n}}*1", True
        )
        [failure] = failures(db)
        assert failure["github_id"] == "cursor:start of UPDATED_AT DESC+1"
        backoff_passed(db)
        await sync(engine, events)
    assert failures(db) == []
    truth = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    assert titles(db)[number] == truth[number]  # its change stored, not the old title
    assert state(db)[REPO]["stored"] == PRS


async def test_a_pr_refused_for_good_is_retried_a_bounded_number_of_times(engine_settings, db):
    """A PR GitHub keeps sending short is asked for again 3 times, backing off, then left
    refused (named, counted); no retry is ever asked for it again."""
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, lambda pr: True)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"short_list@{REPO}#{number}")
        for attempt in range(2, 7):
            backoff_passed(db)
            await sync(engine, events)
            [failure] = failures(db)
            assert failure["attempts"] == min(attempt, 4), (attempt, failure)
    # Refused when listed, then at each of 3 retries; two more syncs asked for it no more.
    assert "GitHub counts" in failure["error"]
    assert number not in numbers(db) and state(db)[REPO]["stored"] == PRS - 1


# -- 7. a PR twice in one page; an error located in no PR beside good data ------------------


async def test_a_pr_listed_twice_in_one_page_is_kept_once_in_a_backfill(engine_settings, db):
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, lambda pr: True)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"twice_in_page@{REPO}#{number}")
    row = state(db)[REPO]
    assert (row["status"], row["stored"], row["failed"]) == ("completed", PRS, 0)
    assert failures(db) == [] and sim.stats()["faults"]["twice_in_page"] >= 1
    chunks = db.execute("SELECT count(*) AS n FROM backfill_chunks WHERE status = 'failed'")
    assert chunks.fetchone()["n"] == 0  # the chunk never failed
    assert numbers(db) == {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}


async def test_a_pr_listed_twice_in_one_page_is_kept_once_in_a_sync(engine_settings, db):
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        _, changed = await changed_then_synced(
            engine, sim, events, lambda pr: True, f"twice_in_page@{REPO}#{{n}}"
        )
    assert failures(db) == [] and sim.stats()["faults"]["twice_in_page"] >= 1
    stored = titles(db)
    truth = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    assert all(stored[n] == truth[n] for n in changed)
    synced = db.execute(
        "SELECT sync_cursor, sync_count, sync_watermark FROM progressive_backfill_state"
    ).fetchone()
    assert synced["sync_cursor"] is None and synced["sync_count"] == 1
    assert state(db)[REPO]["stored"] == PRS


async def test_an_unlocated_error_beside_data_fails_the_chunk_not_the_repo_in_a_backfill(
    engine_settings, db
):
    """FORBIDDEN with no path beside good data is no refusal of the repository: that chunk
    fails (retried by the failure policy), then the backfill completes."""
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, lambda pr: True)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"forbidden_unlocated@{REPO}#{number}*1")
    row = state(db)[REPO]
    # That chunk failed once with GitHub's words; its retry stored everything.
    assert (row["status"], row["stored"], row["failed"]) == ("completed", PRS, 1)
    assert "Resource not accessible by integration" in row["errors"][0]
    assert failures(db) == [] and sim.stats()["faults"]["forbidden_unlocated"] == 1
    assert numbers(db) == {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}


async def test_an_unlocated_error_beside_data_fails_the_chunk_not_the_repo_in_a_sync(
    engine_settings, db
):
    sim = sim_for(RepoSpec("o", "items", PRS))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        _, changed = await changed_then_synced(
            engine, sim, events, lambda pr: True, f"forbidden_unlocated@{REPO}#{{n}}*1"
        )
        # The sync's chunk failed with GitHub's words (not the repository refused); once
        # the failed sync's cooldown has passed, the next sync stores every change.
        [chunk] = db.execute("SELECT status, error FROM backfill_chunks WHERE kind = 'sync'")
        assert chunk["status"] == "failed" and "Resource not accessible" in chunk["error"]
        assert state(db)[REPO]["status"] == "completed"
        db.execute("UPDATE progressive_backfill_state SET cooldown_until = now()")
        await sync(engine, events)
    assert failures(db) == [] and sim.stats()["faults"]["forbidden_unlocated"] == 1
    stored = titles(db)
    truth = {pr["number"]: pr["title"] for pr in sim.truth(REPO)["pull_requests"]}
    assert all(stored[n] == truth[n] for n in changed)
    row = state(db)[REPO]
    assert row["status"] == "completed" and row["stored"] == PRS


async def test_two_null_edges_in_a_row_are_each_stored_by_their_own_retry(engine_settings, db):
    """Two adjacent null edges are keyed `cursor:<before>+1` and `+2`; each retry asks for
    its own PR (the 1st and the 2nd after that cursor), so both end stored, none lost."""
    sim = sim_for(RepoSpec("o", "items", PRS))
    repo = sim.world.repos[0]
    first, second = (int(repo.pull_request(i)["number"]) for i in (6, 7))
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        faults = f"null_edge_bare@{REPO}#{first}*1,null_edge_bare@{REPO}#{second}*1"
        await backfilled(engine, sim, events, faults)
        keys = sorted(f["github_id"][-2:] for f in failures(db))
        assert keys == ["+1", "+2"] and {first, second}.isdisjoint(numbers(db))
        backoff_passed(db)
        await sync(engine, events)
    assert failures(db) == []
    assert numbers(db) == {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}


async def test_a_null_edge_page_fetched_again_with_its_pr_there_clears_its_failure(
    engine_settings, db
):
    """A null edge refused (`cursor:<before>+1`); the walk resumes from the cursor before it
    (as it does when a chunk ends on the null edge and the next fetch fails with a 502) and
    the page fetched again has the real PR at that place: it is stored and the place's
    failure cleared, never counted twice (stored and refused)."""
    sim = sim_for(RepoSpec("o", "items", PRS))
    number = pick(sim, lambda pr: True)
    events: list[str] = []
    async with open_engine(engine_settings, transport=sim.transport()) as engine:
        await backfilled(engine, sim, events, f"null_edge_bare@{REPO}#{number}*1")
        [failure] = failures(db)
        assert failure["github_id"] == f"cursor:{failure['position_cursor']}+1"
        assert number not in numbers(db)
        # The committed cursor back before the null edge, the backfill started again there.
        row = db.execute(
            "UPDATE progressive_backfill_state SET cursor = %s RETURNING id",
            (failure["position_cursor"],),
        ).fetchone()
        assert await engine.store.reopen_backfill(row["id"], PRS)
        await run(engine, events)
    assert failures(db) == []  # the place now holds a stored PR: no failure beside it
    assert numbers(db) == {pr["number"] for pr in sim.truth(REPO)["pull_requests"]}
    row = state(db)[REPO]
    assert (row["status"], row["stored"]) == ("completed", PRS)
