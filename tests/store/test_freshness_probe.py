"""The freshness probe's SQL contract, on both transports (migration
20250400000000_freshness_probe.sql): claimed in batches with the sync's lease and fencing;
an unchanged repository is fresh as of the probe with a counter and no chunk row; a moved
one (newer, recounted, refused PRs due) is due for a sync walk and not probed again until
one finishes; one GitHub would not serve rests; a lost lease writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.store import Store
from tests.support.completed_rows import mark_completed

MARK = datetime(2026, 1, 1, tzinfo=UTC)  # the stored watermark


def state(db: psycopg.Connection, name: str) -> dict:
    row = db.execute(
        "SELECT s.* FROM progressive_backfill_state s JOIN repositories r "
        "ON r.id = s.repository_id WHERE r.name = %s",
        (name,),
    ).fetchone()
    assert row is not None
    return row


async def test_unchanged_is_fresh_with_no_chunk_and_moved_is_synced_next(
    store: Store, db: psycopg.Connection
) -> None:
    mark_completed(db, [f"o/r{i}" for i in range(5)], total_prs=4, watermark=MARK)
    batch = await store.claim_probe("w1", older_than=timedelta(minutes=15), limit=100)
    assert [b.name for b in batch] == [f"r{i}" for i in range(5)]
    assert len({b.claim_token for b in batch}) == 5
    assert await store.claim_probe("w2", older_than=timedelta(minutes=15)) == []  # leased
    by_name = {b.name: b for b in batch}

    assert await store.settle_probe(by_name["r0"], MARK, 4) == "unchanged"
    assert await store.settle_probe(by_name["r1"], MARK + timedelta(seconds=1), 4) == "moved"
    assert await store.settle_probe(by_name["r2"], MARK, 5) == "moved"  # a PR added or gone
    assert await store.probe_failed(by_name["r3"], "o/r3: NOT_FOUND at r3: gone", 600)
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1s' "
        "WHERE leased_by IS NOT NULL"
    )
    assert await store.settle_probe(by_name["r4"], MARK, 4) == "lost"  # the lease lapsed

    r0 = state(db, "r0")
    assert r0["fresh_as_of"] == r0["last_claimed_at"] and r0["probe_count"] == 1
    assert r0["leased_by"] is None and r0["sync_count"] == 1 and r0["probed_at"] is not None
    assert state(db, "r1")["probe_moved_at"] is not None and state(db, "r1")["probe_count"] == 0
    r3 = state(db, "r3")
    assert "NOT_FOUND" in r3["last_error"] and r3["cooldown_until"] is not None
    assert state(db, "r4")["probed_at"] is None  # lost: nothing written
    assert db.execute("SELECT count(*) AS n FROM backfill_chunks").fetchone()["n"] == 0

    # Due again (an hour passes in the database): r0 and r4 are probed; the moved ones wait
    # for their walk (claim_sync), r3 rests.
    db.execute(
        "UPDATE progressive_backfill_state SET synced_at = synced_at - interval '1 hour', "
        "lease_expires_at = NULL, leased_by = NULL"
    )
    again = await store.claim_probe("w1", older_than=timedelta(minutes=15))
    assert sorted(b.name for b in again) == ["r0", "r4"]
    walk = await store.claim_sync("w1", older_than=None)
    assert walk is not None and walk.name in ("r1", "r2")


async def test_due_retries_count_as_moved_and_batches_are_bounded(
    store: Store, db: psycopg.Connection
) -> None:
    mark_completed(db, [f"o/q{i:03}" for i in range(120)], total_prs=2, watermark=MARK)
    db.execute(
        "INSERT INTO pull_request_failures (repository_id, github_id, number, error, attempts,"
        " failed_at) SELECT id, 'PR_x', 7, 'refused', 1, now() - interval '2 minutes' "
        "FROM repositories WHERE name = 'q000'"
    )
    first = await store.claim_probe("w1", limit=100)
    second = await store.claim_probe("w1", limit=100)
    assert (len(first), len(second)) == (100, 20)
    q000 = next(b for b in first + second if b.name == "q000")
    other = next(b for b in first + second if b.name != "q000")
    assert await store.settle_probe(q000, MARK, 2) == "moved"  # its retry rides a walk
    assert await store.settle_probe(other, None, 2) == "unchanged"  # no PR at all is newer
