"""The spec's own SQL, verbatim, on a migrated database with data."""

from __future__ import annotations

from core.store import Store
from tests.support.spec_statistics import SPEC_STATISTICS, seed

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
