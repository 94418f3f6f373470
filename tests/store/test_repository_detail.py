"""The repository detail's store calls on both transports: one backfill in full, retry, remove."""

from __future__ import annotations

import psycopg

from core.store import Store
from tests.support.store_rows import pull_request


async def _failed_with_a_page(store: Store, name: str) -> tuple[object, object]:
    """A backfill that stored two PRs (cursor past #2), then failed a chunk and itself."""
    reg = await store.register_backfill("octo", name, 5)
    lease = await store.claim_backfill("w1", lease_seconds=120, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(1, reviews=2, comments=1, prefix=name), pull_request(2, prefix=name)]
    await store.commit_chunk(chunk, page, cursor_after="c2", has_next_page=True, total_prs=5)
    second = await store.start_chunk(lease, "w1")
    assert second is not None
    await store.fail_chunk(second, "GraphQL said: " + "x" * 300 + " END")
    assert await store.fail_backfill(lease, "the repository is gone")
    return reg, lease


def table_counts(db: psycopg.Connection) -> dict[str, int]:
    tables = ("repositories", "progressive_backfill_state", "backfill_chunks", "pull_requests")
    tables += ("reviews", "comments", "contributors")
    return {t: db.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}


async def test_detail_shows_chunks_newest_first_with_full_errors(store: Store) -> None:
    reg, _ = await _failed_with_a_page(store, "a")
    detail = await store.backfill_detail(reg.backfill_state_id)
    assert detail is not None
    assert detail.repository == "octo/a" and detail.status == "failed"
    assert detail.after_pr == 2 and detail.has_cursor
    assert detail.last_error == "the repository is gone"
    assert [c.chunk_number for c in detail.chunks] == [2, 1]
    failed, done = detail.chunks
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.endswith(" END") and len(failed.error) > 300  # not cut
    assert done.status == "completed" and done.pr_count == 2 and done.worker_id == "w1"
    assert "cursor" not in detail.state and "claim_token" not in detail.state


async def test_detail_of_a_missing_backfill_is_none(store: Store) -> None:
    import uuid

    assert await store.backfill_detail(uuid.uuid4()) is None


async def test_retry_resets_a_failed_backfill_keeping_its_cursor(store: Store, db) -> None:
    reg, _ = await _failed_with_a_page(store, "b")
    assert await store.retry_backfill(reg.backfill_state_id)
    row = db.execute(
        "SELECT status, cursor, processed_prs, last_error, error_count"
        " FROM progressive_backfill_state WHERE id = %s",
        (reg.backfill_state_id,),
    ).fetchone()
    assert row == {
        "status": "pending",
        "cursor": "c2",
        "processed_prs": 2,
        "last_error": None,
        "error_count": 0,
    }
    assert not await store.retry_backfill(reg.backfill_state_id), "only a failed one"
    lease = await store.claim_backfill("w2", only=[reg.backfill_state_id])
    assert lease is not None and lease.cursor == "c2"


async def test_remove_counts_then_deletes_exactly_that_repository(store: Store, db) -> None:
    keep, _ = await _failed_with_a_page(store, "keep")
    gone, _ = await _failed_with_a_page(store, "gone")
    before = table_counts(db)
    counted = await store.remove_repository(gone.repository_id, dry_run=True)
    assert not counted.removed and table_counts(db) == before
    assert (counted.repository, counted.pull_requests, counted.reviews) == ("octo/gone", 2, 2)
    assert (counted.comments, counted.chunks, counted.backfills) == (1, 2, 1)
    removed = await store.remove_repository(gone.repository_id, dry_run=False)
    assert removed.removed and removed.pull_requests == 2
    after = table_counts(db)
    assert after == {
        **before,
        "repositories": before["repositories"] - 1,
        "progressive_backfill_state": before["progressive_backfill_state"] - 1,
        "backfill_chunks": before["backfill_chunks"] - 2,
        "pull_requests": before["pull_requests"] - 2,
        "reviews": before["reviews"] - 2,
        "comments": before["comments"] - 1,
    }
    assert await store.backfill_detail(keep.backfill_state_id) is not None
    again = await store.remove_repository(gone.repository_id, dry_run=False)
    assert not again.removed and again.repository is None
