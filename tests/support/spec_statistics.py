"""The statistics query written in the spec, and rows to run it on."""

from __future__ import annotations

import psycopg

from core.store import Store
from tests.support.store_rows import pull_request

SPEC_STATISTICS = """
SELECT 
  COUNT(*) FILTER (WHERE status = 'processing') as stuck,
  COUNT(*) FILTER (WHERE status = 'completed') as completed,
  COUNT(*) FILTER (WHERE status = 'failed') as failed
FROM backfill_chunks
WHERE started_at > NOW() - INTERVAL '24 hours';
"""


async def seed(store: Store, db: psycopg.Connection) -> None:
    """octo/alpha: 2 of 8 stored, one chunk each completed/failed/processing; octo/empty: 0 PRs;
    octo/old: a chunk from two days ago and a backfill untouched for two hours."""
    await store.register_backfill("octo", "alpha", 8)
    await store.register_backfill("octo", "empty", 0)
    await store.register_backfill("octo", "old", 4)
    lease = await store.claim_backfill(
        "w", only=[(await store.register_backfill("octo", "alpha", 8)).backfill_state_id]
    )
    assert lease is not None
    done = await store.start_chunk(lease, "w")
    failed = await store.start_chunk(lease, "w")
    processing = await store.start_chunk(lease, "w")
    assert done and failed and processing
    await store.commit_chunk(
        done, [pull_request(1), pull_request(3)], cursor_after="c", has_next_page=True, total_prs=8
    )
    await store.fail_chunk(failed, "boom")
    old = await store.register_backfill("octo", "old", 4)
    old_lease = await store.claim_backfill("w", only=[old.backfill_state_id])
    assert old_lease is not None
    ancient = await store.start_chunk(old_lease, "w")
    assert ancient is not None
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - interval '2 days' WHERE id = %s",
        (ancient.id,),
    )
    db.execute(
        "UPDATE progressive_backfill_state SET updated_at = now() - interval '2 hours' "
        "WHERE id = %s",
        (old.backfill_state_id,),
    )
