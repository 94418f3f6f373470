"""The spec's own SQL, verbatim, on a migrated database with data."""

from __future__ import annotations

import psycopg

from core.store import Store

from .helpers import pull_request

SPEC_STATISTICS = """
SELECT 
  COUNT(*) FILTER (WHERE status = 'processing') as stuck,
  COUNT(*) FILTER (WHERE status = 'completed') as completed,
  COUNT(*) FILTER (WHERE status = 'failed') as failed
FROM backfill_chunks
WHERE started_at > NOW() - INTERVAL '24 hours';
"""

SPEC_PROGRESS = """
SELECT 
  r.owner || '/' || r.name as repo,
  pbs.processed_prs || '/' || pbs.total_prs as progress,
  ROUND(pbs.processed_prs::numeric / pbs.total_prs * 100, 2) || '%' as percent,
  pbs.status
FROM progressive_backfill_state pbs
JOIN repositories r ON r.id = pbs.repository_id
WHERE pbs.updated_at > NOW() - INTERVAL '1 hour'
ORDER BY pbs.updated_at DESC;
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


async def test_the_specs_get_next_chunk_number_call(store: Store, db) -> None:
    reg = await store.register_backfill("octo", "alpha", 8)
    spec_call = f"SELECT get_next_chunk_number('{reg.backfill_state_id}');"
    assert [db.execute(spec_call).fetchone()["get_next_chunk_number"] for _ in range(3)] == [
        1,
        2,
        3,
    ]


async def test_the_specs_statistics_query(store: Store, db) -> None:
    await seed(store, db)
    row = db.execute(SPEC_STATISTICS).fetchone()
    assert row == {"stuck": 1, "completed": 1, "failed": 1}
    ours = await store.chunk_statistics(since_hours=24)
    assert (ours.processing, ours.completed, ours.failed) == (1, 1, 1)


async def test_the_specs_progress_query(store: Store, db) -> None:
    await seed(store, db)
    rows = db.execute(SPEC_PROGRESS).fetchall()
    by_repo = {r["repo"]: r for r in rows}
    assert set(by_repo) == {"octo/alpha", "octo/empty"}  # octo/old is older than an hour
    assert by_repo["octo/alpha"] == {
        "repo": "octo/alpha",
        "progress": "2/8",
        "percent": "25.00%",
        "status": "active",
    }
    # A repository with no PRs yet does not break the query (total_prs is NULL, not 0).
    assert by_repo["octo/empty"]["percent"] is None
