"""The engine's property: whatever GitHub answers, a backfill ends in a bounded, visible outcome.

Hypothesis draws sequences of the answer shapes tests/support/answer_samples.py lists (every
fault the simulator can
aim at a repository or a PR: timeouts inside a 200, SAML, rate limits without `errors`,
secondary limits as JSON and as text, bodies that lie about their encoding, trickles, huge
answers, repeated pages, vanished PRs, "more" without a cursor, lists ending early, 5xx,
resets, malformed bodies) mixed with good pages, for a small repository served over the
in-process simulator. Each run must end either

- `completed`, with what is stored equal to what a fault-free backfill stores (the simulator's
  truth: every PR, every review and comment id), but for PRs refused alone and named in
  pull_request_failures (a PR whose own data was bad: never stored short), or
- `failed`, with a reason,

within the bounds the test states (requests, points), never `completed` with anything
missing and never a chunk left `processing`. Cooldowns are moved in the database (cleared
as they are set), never slept; the client's waits are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from core.backfill.presence import Presence
from core.backfill.registry import add_repositories
from core.backfill.worker import Worker, WorkerOptions
from core.github import GitHubClient
from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator
from core.simulator.config import REPO_FAULTS, REQUEST_FAULTS
from core.simulator.item_faults import ITEM_FAULTS
from core.store import postgres_store
from tests.support.databases import create_database, drop_database

pytestmark = pytest.mark.reliability

REPO = "acme/prop"
PRS = 90
MAX_REQUESTS = 400  # a clean backfill of this repository takes about 10
MAX_POINTS = 400

# Every fault aimed at one PR; text made storable is tests/backfill/test_unicode_property.py's.
PR_FAULTS = ("vanish", "null_cursor", *(k for k in ITEM_FAULTS if k != "surrogate"))
KINDS = sorted({*REQUEST_FAULTS, *REPO_FAULTS} - {"slow"})  # `slow` only adds real time


class Clock:
    """Real time plus every wait GitHub asked for: GitHub (the simulator) and the client
    share it, so a wait until a reset is over the moment it is asked for."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped

    async def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)
        await asyncio.sleep(0)


def world(clock: Clock | None = None) -> Simulator:
    return Simulator(
        SimConfig(
            repos=[RepoSpec.parse(f"{REPO}:{PRS}")],
            seed=3,
            trickle_seconds=0.3,
            huge_bytes=3 * 1024 * 1024,
            secondary_retry_after=None,
            clock=clock or time.time,
        )
    )


def rich_numbers() -> list[int]:
    """PRs with more than 100 reviews or comments: where follow-ups (and PR faults) happen."""
    repo = world().world.repos[0]
    return [
        repo.pull_request(i)["number"]
        for i in range(repo.count)
        if max(repo.pull_request(i)["_counts"][:2]) > 100
    ] or [repo.pull_request(0)["number"]]


fault = st.one_of(
    st.tuples(st.sampled_from(KINDS), st.none(), st.integers(1, 3)),
    st.tuples(st.sampled_from(PR_FAULTS), st.sampled_from(rich_numbers()), st.integers(1, 2)),
)


def spec_of(faults: list[tuple[str, int | None, int]]) -> str:
    return ",".join(
        f"{kind}@{REPO}" + (f"#{number}" if number else "") + f"*{times}"
        for kind, number, times in faults
    )


def stored(url: str) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        state = conn.execute(
            "SELECT status, last_error, processed_prs, total_prs FROM progressive_backfill_state"
        ).fetchone()
        prs = {
            r["number"]: (r["github_id"], r["title"], r["reviews"], r["comments"])
            for r in conn.execute(
                "SELECT p.number, p.github_id, p.title,"
                " (SELECT array_agg(v.github_id ORDER BY v.github_id) FROM reviews v"
                "   WHERE v.pull_request_id = p.id) AS reviews,"
                " (SELECT array_agg(c.github_id ORDER BY c.github_id) FROM comments c"
                "   WHERE c.pull_request_id = p.id) AS comments"
                " FROM pull_requests p"
            )
        }
        processing = conn.execute(
            "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone()["n"]
        refused = conn.execute("SELECT number, error FROM pull_request_failures").fetchall()
    return {"state": state, "prs": prs, "processing": processing, "refused": refused}


async def backfill(
    url: str, sim: Simulator, clock: Clock, faults: str
) -> tuple[dict[str, Any], Worker]:
    store = await postgres_store(url, max_size=4)
    client = GitHubClient(
        "simulator-token",
        "https://sim/graphql",
        transport=sim.transport(),
        sleep=clock.sleep,
        clock=clock,
        request_deadline=2.0,
        max_answer_bytes=2 * 1024 * 1024,
    )
    presence = Presence(store, client.token_fingerprint)
    options = WorkerOptions(
        until_idle=True,
        idle_interval=0.02,
        max_runtime=60,
        max_failures_in_a_row=3,
        cooldown_base=1,
        lease_seconds=30,
    )
    worker = Worker(store, client, presence, options)

    async def move_time() -> None:  # every cooldown is over at once: time moved, not slept
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                conn.execute(
                    "UPDATE progressive_backfill_state SET cooldown_until = NULL, "
                    "waiting_until = NULL WHERE cooldown_until IS NOT NULL "
                    "OR waiting_until IS NOT NULL"
                )
                await asyncio.sleep(0.05)

    mover = asyncio.create_task(move_time())
    try:
        await add_repositories(store, client, [REPO])
        sim.config.faults = FaultSpec.parse(faults) if faults else None
        await worker.run()
    finally:
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover
        await client.aclose()
        await store.close()
    return stored(url), worker


@pytest.fixture(scope="module")
def truth(pg_admin_url: str, template_db: str) -> dict[int, Any]:
    url = create_database(pg_admin_url, template_db)
    try:
        clock = Clock()
        result, _ = asyncio.run(backfill(url, world(clock), clock, ""))
    finally:
        drop_database(pg_admin_url, url)
    assert result["state"]["status"] == "completed" and len(result["prs"]) == PRS
    return result["prs"]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(faults=st.lists(fault, min_size=1, max_size=6))
def test_every_answer_sequence_ends_complete_or_visibly_failed(
    faults: list[tuple[str, int | None, int]], pg_admin_url: str, template_db: str, truth
) -> None:
    url = create_database(pg_admin_url, template_db)
    clock = Clock()
    sim = world(clock)
    try:
        result, _ = asyncio.run(backfill(url, sim, clock, spec_of(faults)))
    finally:
        drop_database(pg_admin_url, url)
    served = sim.stats()
    state = result["state"]

    assert result["processing"] == 0, "a chunk left processing"
    assert served["requests"] <= MAX_REQUESTS
    assert sum(t["points_used"] for t in served["tokens"].values()) <= MAX_POINTS
    assert state["status"] in ("completed", "failed"), state
    if state["status"] == "failed":
        assert state["last_error"], "failed without a reason"
        return
    # Completed: nothing missing (stored, or refused alone and named), nothing invented.
    # (A PR GitHub sent as a null node is named by its cursor: its number is unknown.)
    refused = result["refused"]
    named = {r["number"] for r in refused if r["number"] is not None}
    assert all(r["error"] for r in refused) and not named & set(result["prs"])
    assert set(result["prs"]) <= set(truth) and named <= set(truth)
    assert len(result["prs"]) + len(refused) == PRS
    assert state["processed_prs"] + len(refused) == state["total_prs"] == PRS
    for number, stored_pr in result["prs"].items():
        assert stored_pr == truth[number], f"PR #{number} differs"
