"""fail_chunk_in_a_row: a backfill's failures in a row are counted in the database, so the
bound holds whoever fails its chunks; a committed page, a retry or a reopen starts the count
afresh; failures that are not the work's (fail_chunk) neither count nor reset."""

from __future__ import annotations

import psycopg

from core.store import Store
from core.store.models import Lease
from tests.support.store_rows import pull_request


def backfill_row(db: psycopg.Connection) -> dict:
    row = db.execute(
        "SELECT status, failures_in_a_row, error_count, last_error, leased_by, "
        "round(extract(epoch FROM cooldown_until - now())) AS cooldown "
        "FROM progressive_backfill_state"
    ).fetchone()
    assert row is not None
    return row


async def claim(store: Store, db: psycopg.Connection, worker: str) -> Lease:
    """A claim by `worker` (another process, as far as the database knows); a cooldown is
    moved past on the database clock rather than waited out."""
    db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
    lease = await store.claim_backfill(worker, lease_seconds=120)
    assert lease is not None
    return lease


async def fail_one(store: Store, lease: Lease, worker: str, error: str, *, let_go: bool = True):
    """A chunk failed by its worker, which then lets the backfill go (as Worker._holding)."""
    chunk = await store.start_chunk(lease, worker)
    assert chunk is not None
    failure = await store.fail_chunk_in_a_row(chunk, error, 5, max_failures_in_a_row=3)
    if let_go:
        await store.release(lease)
    return failure


async def test_workers_taking_turns_reach_the_bound_together(store: Store, db) -> None:
    await store.register_backfill("octo", "repo", 50)
    first = await fail_one(store, await claim(store, db, "w1"), "w1", "boom 1")
    assert (first.failed, first.in_a_row, first.gave_up, first.cooldown_seconds) == (
        True,
        1,
        False,
        5,
    )
    assert backfill_row(db)["cooldown"] == 5
    second = await fail_one(store, await claim(store, db, "w2"), "w2", "boom 2")
    assert (second.in_a_row, second.cooldown_seconds) == (2, 10)  # doubled
    assert backfill_row(db)["cooldown"] == 10
    third = await fail_one(store, await claim(store, db, "w3"), "w3", "boom 3")
    assert third.gave_up and third.in_a_row == 3
    assert third.reason == "3 chunks failed in a row; last: boom 3"
    row = backfill_row(db)
    assert (row["status"], row["last_error"], row["leased_by"]) == (
        "failed",
        "3 chunks failed in a row; last: boom 3",
        None,
    )
    assert await store.retry_backfill(row_id(db))
    assert backfill_row(db)["failures_in_a_row"] == 0  # a retried backfill counts afresh


async def test_a_committed_page_ends_the_row_and_other_failures_do_not_count(
    store: Store, db
) -> None:
    await store.register_backfill("octo", "repo", 50)
    lease = await claim(store, db, "w1")
    await fail_one(store, lease, "w1", "boom", let_go=False)
    await fail_one(store, lease, "w1", "boom", let_go=False)
    assert backfill_row(db)["failures_in_a_row"] == 2
    uncounted = await store.start_chunk(lease, "w1")
    assert uncounted is not None
    assert await store.fail_chunk(uncounted, "rate limited", 30)  # waits are not the work's
    assert backfill_row(db)["failures_in_a_row"] == 2
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    result = await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=50
    )
    assert result.committed
    assert backfill_row(db)["failures_in_a_row"] == 0
    after = await fail_one(store, lease, "w1", "boom", let_go=False)
    assert (after.in_a_row, after.gave_up, after.cooldown_seconds) == (1, False, 5)


async def test_a_chunk_not_this_claims_to_fail_is_not_counted(store: Store, db) -> None:
    await store.register_backfill("octo", "repo", 50)
    lease = await claim(store, db, "w1")
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    assert await store.fail_chunk(chunk, "already failed")
    again = await store.fail_chunk_in_a_row(chunk, "boom", 5, max_failures_in_a_row=3)
    assert not again.failed and again.in_a_row is None
    assert backfill_row(db)["failures_in_a_row"] == 0


def row_id(db: psycopg.Connection):
    row = db.execute("SELECT id FROM progressive_backfill_state").fetchone()
    assert row is not None
    return row["id"]
