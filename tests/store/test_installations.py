"""Routing to GitHub App installations, on both transports: a repository remembers
the installation that sees it, claims take only what the installations with budget may work,
a repository nobody can see fails with its reason, budgets say whose they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.store import Store
from tests.support.store_rows import pull_request


async def three(store: Store) -> dict[str, str]:
    """octo/a (installation 1), acme/b (installation 2), old/c (not routed): name -> state id."""
    regs = [
        await store.register_backfill("octo", "a", 10, "N_a", installation_id=1),
        await store.register_backfill("acme", "b", 10, "N_b", installation_id=2),
        await store.register_backfill("old", "c", 10, "N_c"),
    ]
    return {r.name: str(r.backfill_state_id) for r in regs}


async def claim_all(store: Store, installations: list[int] | None) -> list[tuple[str, int | None]]:
    claimed = []
    while (lease := await store.claim_backfill("w", 60, installations=installations)) is not None:
        claimed.append((lease.name, lease.installation_id))
    return sorted(claimed)


async def test_claims_take_only_what_the_installations_with_budget_may_work(
    store: Store,
) -> None:
    await three(store)
    # Installation 2 is out of budget: acme/b waits; the unrouted one goes to anyone.
    assert await claim_all(store, [1]) == [("a", 1), ("c", None)]
    assert await claim_all(store, [1, 2]) == [("b", 2)]  # its reset came
    assert await claim_all(store, None) == []  # all leased now


async def test_no_installation_with_budget_claims_only_unrouted_work(store: Store) -> None:
    await three(store)
    assert await claim_all(store, []) == [("c", None)]
    assert await claim_all(store, [2]) == [("b", 2)]


async def test_the_spec_call_without_installations_claims_anything(store: Store) -> None:
    await three(store)
    assert await claim_all(store, None) == [("a", 1), ("b", 2), ("c", None)]


async def test_registration_keeps_or_moves_the_installation(
    store: Store, db: psycopg.Connection
) -> None:
    await three(store)

    def installation(name: str) -> int | None:
        row = db.execute("SELECT installation_id FROM repositories WHERE name = %s", (name,))
        return row.fetchone()["installation_id"]

    again = await store.register_backfill("octo", "a", 12, "N_a")  # personal tokens: no say
    assert not again.created and installation("a") == 1
    await store.register_backfill("octo", "a", 12, "N_a", installation_id=7)  # App moved
    assert installation("a") == 7
    # A repository registered before routing is routed once, by whoever learns it first.
    (c,) = db.execute("SELECT id FROM repositories WHERE name = 'c'").fetchall()
    assert await store.route_repository(c["id"], 2)
    assert not await store.route_repository(c["id"], 3)
    assert installation("c") == 2


async def test_the_work_summary_counts_what_these_installations_may_do(store: Store) -> None:
    await three(store)
    assert (await store.work_summary()).claimable == 3
    assert (await store.work_summary(installations=[1])).claimable == 2
    assert (await store.work_summary(installations=[])).claimable == 1
    lease = await store.claim_backfill("w", 60, installations=[2])
    assert lease is not None and lease.name == "b"
    summary = await store.work_summary(installations=[2])
    assert (summary.claimable, summary.leased) == (1, 1)


async def test_syncs_are_routed_like_backfills(store: Store) -> None:
    await store.register_backfill("octo", "a", 1, "N_a", installation_id=1)
    await store.register_backfill("acme", "b", 1, "N_b", installation_id=2)
    for _ in range(2):
        lease = await store.claim_backfill("w", 60)
        assert lease is not None
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None
        pr = pull_request(1, prefix=lease.name)
        result = await store.commit_chunk(
            chunk, [pr], cursor_after="c", has_next_page=False, total_prs=1
        )
        assert result.status == "completed"
    sync = await store.claim_sync("s", older_than=timedelta(0), installations=[2])
    assert sync is not None and (sync.name, sync.installation_id) == ("b", 2)
    assert await store.claim_sync("s", older_than=timedelta(0), installations=[2]) is None
    other = await store.claim_sync("s", older_than=timedelta(0))
    assert other is not None and other.name == "a"


async def test_a_repository_nobody_can_see_fails_with_its_reason(
    store: Store, db: psycopg.Connection
) -> None:
    ids = await three(store)
    reason = "no installation of GitHub App 123 can see old/c; install the App on old"
    assert await store.fail_unreachable_backfill(ids["c"], reason)
    row = db.execute(
        "SELECT status, last_error FROM progressive_backfill_state WHERE id = %s", (ids["c"],)
    ).fetchone()
    assert row == {"status": "failed", "last_error": reason}
    # A backfill a worker holds right now is left to that worker.
    lease = await store.claim_backfill("w", 60, installations=[1])
    assert lease is not None and lease.name == "a"
    assert not await store.fail_unreachable_backfill(ids["a"], reason)
    # Once the App is installed there, retry reopens it from where it was.
    assert await store.retry_backfill(ids["c"])  # type: ignore[arg-type]
    assert await claim_all(store, []) == [("c", None)]


async def test_retry_routes_the_repository_again(store: Store, db: psycopg.Connection) -> None:
    """The App reinstalled: installation 1 is gone, a new one sees octo/a. A retried backfill
    forgets installation 1, so a worker with only the new installation claims (and routes) it;
    a backfill that did not fail keeps its route."""
    ids = await three(store)
    assert await store.fail_unreachable_backfill(ids["a"], "installation 1 cannot see octo/a")
    assert await store.retry_backfill(ids["a"])  # type: ignore[arg-type]
    rows = db.execute("SELECT name, installation_id FROM repositories").fetchall()
    routes = {row["name"]: row["installation_id"] for row in rows}
    assert routes == {"a": None, "b": 2, "c": None}
    assert await claim_all(store, [3]) == [("a", None), ("c", None)]


async def test_each_budget_says_whose_it_is(store: Store) -> None:
    reset = datetime.now(UTC) + timedelta(hours=1)
    await store.record_rate_limit(
        "installation:42",
        remaining=4000,
        limit=5000,
        used=1000,
        reset_at=reset,
        credential="installation 42 (octo)",
        installation_id=42,
    )
    await store.record_rate_limit("sha256:abc", remaining=10, limit=5000, used=4990, reset_at=reset)
    # A writer that does not say (an older worker) keeps what is known.
    await store.record_rate_limit(
        "installation:42", remaining=3990, limit=5000, used=1010, reset_at=reset
    )
    rows = {r.token_fingerprint: r for r in await store.rate_limits()}
    assert (rows["installation:42"].credential, rows["installation:42"].installation_id) == (
        "installation 42 (octo)",
        42,
    )
    assert rows["installation:42"].remaining == 3990
    assert rows["installation:42"].name == "installation 42 (octo)"
    assert (rows["sha256:abc"].credential, rows["sha256:abc"].name) == (None, "sha256:abc")
