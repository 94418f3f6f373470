"""History stays bounded (both transports; migration 20250410000000_bounded_history.sql):
recovery's cleanup deletes completed chunks and failed chunks past the cleanup age and the
rows of workers silent for a day, in batches that never recount what is left. Time is
moved in the database, not slept."""

from __future__ import annotations

import psycopg

from core.recovery import recover
from core.store import Store
from tests.support.store_rows import pull_request


async def chunks(store: Store, db: psycopg.Connection, completed: int, failed: int) -> None:
    """`completed` committed chunks and `failed` failed ones of one backfill, 40 days old."""
    await store.register_backfill("octo", "old", 100)
    lease = await store.claim_backfill("w", lease_seconds=300)
    assert lease is not None
    for n in range(1, completed + 1):
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None
        result = await store.commit_chunk(
            chunk, [pull_request(n)], cursor_after=f"c{n}", has_next_page=True, total_prs=100
        )
        assert result.committed
    for _ in range(failed):
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None and await store.fail_chunk(chunk, "boom")
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - interval '40 days', "
        "completed_at = CASE WHEN status = 'completed' THEN now() - interval '40 days' END"
    )


async def test_failed_chunks_and_silent_workers_go_on_their_retention(
    store: Store, db: psycopg.Connection
) -> None:
    await chunks(store, db, completed=3, failed=4)
    fresh = await store.register_backfill("octo", "new", 10)
    lease = await store.claim_backfill("w2", only=[fresh.backfill_state_id])
    assert lease is not None
    recent = await store.start_chunk(lease, "w2")
    assert recent is not None and await store.fail_chunk(recent, "just now")
    for name, status in (("gone", "stopped"), ("dead", "running"), ("alive", "running")):
        await store.worker_heartbeat(name, host="h", pid=1, status=status)
    db.execute(
        "UPDATE workers SET heartbeat_at = now() - interval '25 hours', "
        "stopped_at = CASE WHEN status = 'stopped' THEN now() - interval '25 hours' END "
        "WHERE id IN ('gone', 'dead')"
    )

    dry = await recover(store, stuck_minutes=60 * 24 * 60, cleanup_days=30, dry_run=True)
    assert (dry.cleanup.eligible, dry.cleanup.failed_eligible) == (3, 4)
    assert (dry.cleanup.workers_eligible, dry.cleanup.deleted) == (2, 0)

    report = await recover(
        store, stuck_minutes=60 * 24 * 60, cleanup_days=30, dry_run=False, cleanup_batch=2
    )

    assert (report.cleanup.deleted, report.cleanup.failed_deleted) == (3, 4)
    assert (report.cleanup.workers_deleted, report.cleanup.remaining) == (2, 0)
    left = db.execute("SELECT error FROM backfill_chunks").fetchall()
    assert [r["error"] for r in left] == ["just now"]  # within the retention: kept
    workers = db.execute("SELECT id FROM workers").fetchall()
    assert [w["id"] for w in workers] == ["alive"]
    pruned = db.execute("SELECT sum(chunks_pruned) AS n FROM progressive_backfill_state")
    assert pruned.fetchone()["n"] == 3  # completed chunks still counted on the backfill


async def test_a_drains_later_batches_recount_nothing(store: Store, db: psycopg.Connection) -> None:
    await chunks(store, db, completed=5, failed=0)
    batch = await store.prune_completed_chunks(cleanup_days=30, batch=2, count=False)
    assert (batch["deleted"], batch["eligible"], batch["more"]) == (2, 0, True)
    batch = await store.prune_completed_chunks(cleanup_days=30, batch=2, count=False)
    assert (batch["deleted"], batch["more"]) == (2, True)
    batch = await store.prune_completed_chunks(cleanup_days=30, batch=2, count=False)
    assert (batch["deleted"], batch["more"]) == (1, False)
    assert db.execute("SELECT count(*) AS n FROM backfill_chunks").fetchone()["n"] == 0
