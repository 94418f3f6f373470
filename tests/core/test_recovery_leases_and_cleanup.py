"""Expired leases are released (the backfill resumes from its committed cursor); completed
chunks past the cleanup age are pruned in bounded batches and counted on the backfill, failed
ones on the same retention."""

from __future__ import annotations

from core.recovery import recover
from core.store import Store
from tests.support.recovery_rows import stuck_chunk
from tests.support.store_rows import pull_request


async def test_expired_lease_is_released_and_the_backfill_resumes_from_its_cursor(
    store: Store, db
) -> None:
    dead, _ = await stuck_chunk(store, db, "dead", minutes=40, expected=10, stored=3)
    live, _ = await stuck_chunk(store, db, "live", minutes=40, expected=10, stored=3, alive=True)
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second' "
        "WHERE id = %s",
        (dead.backfill_state_id,),
    )
    assert await store.claim_backfill("other", only=[live.backfill_state_id]) is None

    report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)

    assert [(lease.repository, lease.leased_by, lease.outcome) for lease in report.leases] == [
        ("octo/dead", "w-dead", "applied")
    ]
    rows = {
        r["id"]: r
        for r in db.execute(
            "SELECT id, leased_by, lease_expires_at, claim_token, cursor "
            "FROM progressive_backfill_state"
        ).fetchall()
    }
    assert rows[dead.backfill_state_id]["leased_by"] is None
    assert rows[dead.backfill_state_id]["claim_token"] == dead.claim_token  # still fenced
    assert rows[live.backfill_state_id]["leased_by"] == "w-live"  # a live lease is kept
    resumed = await store.claim_backfill("rescuer", only=[dead.backfill_state_id])
    assert resumed is not None and resumed.cursor == "dead-after"  # the committed cursor
    assert resumed.claim_token > dead.claim_token
    # The dead holder's late commit changes nothing.
    late = await store.start_chunk(dead, "w-dead")
    assert late is None


async def test_cleanup_prunes_old_completed_chunks_in_batches(store: Store, db) -> None:
    reg = await store.register_backfill("octo", "big", 100)
    lease = await store.claim_backfill("w", lease_seconds=300)
    assert lease is not None
    for n in range(1, 11):
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None
        result = await store.commit_chunk(
            chunk, [pull_request(n)], cursor_after=f"c{n}", has_next_page=True, total_prs=100
        )
        assert result.committed
    failed = await store.start_chunk(lease, "w")
    assert failed is not None and await store.fail_chunk(failed, "boom")
    processing = await store.start_chunk(lease, "w")
    assert processing is not None
    # Chunks 1-7 finished 8 days ago, 8-10 six days ago; the failed one (8 days old) goes on
    # the same retention; the processing one is 8 days old too but is never pruned.
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - interval '8 days', "
        "completed_at = CASE WHEN status = 'completed' THEN now() - interval '8 days' END, "
        "failed_at = CASE WHEN status = 'failed' THEN now() - interval '8 days' END "
        "WHERE chunk_number <= 7 OR status <> 'completed'"
    )
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - interval '6 days', "
        "completed_at = now() - interval '6 days' WHERE chunk_number BETWEEN 8 AND 10"
    )

    report = await recover(
        store, stuck_minutes=60 * 24 * 30, cleanup_days=7, dry_run=False, cleanup_batch=3
    )

    assert (report.cleanup.eligible, report.cleanup.deleted, report.cleanup.remaining) == (7, 7, 0)
    assert report.cleanup.batches == 3  # 3 + 3 + 1
    assert report.cleanup.failed_deleted == 1
    left = db.execute(
        "SELECT chunk_number, status FROM backfill_chunks ORDER BY chunk_number"
    ).fetchall()
    assert [r["chunk_number"] for r in left] == [8, 9, 10, 12]
    state = db.execute(
        "SELECT chunks_pruned, processed_prs FROM progressive_backfill_state WHERE id = %s",
        (reg.backfill_state_id,),
    ).fetchone()
    assert state == {"chunks_pruned": 7, "processed_prs": 10}  # totals kept on the backfill
