"""The sync's SQL contract, on both transports: claimed like a backfill, numbered
by the same counter, committed in one fenced transaction, the watermark moving only with the
walk's last page, deletions applied, recovery failing (never 'completing') a stuck sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.store import Store
from tests.support.store_rows import changed, completed


async def test_a_sync_page_replaces_children_and_only_the_last_moves_the_watermark(
    store: Store, db: psycopg.Connection
) -> None:
    lease = await completed(store, db)
    assert lease is not None and lease.cursor is None and lease.watermark is None
    started = db.execute("SELECT started_at FROM progressive_backfill_state").fetchone()
    assert lease.since == started["started_at"] - timedelta(seconds=600)

    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    first = await store.start_sync_chunk(lease, "s1")
    assert first is not None and first.kind == "sync" and first.chunk_number == 2
    pr3 = changed(3, t1, title="Edited", state="CLOSED", merged=False, merged_at=None)
    pr3["labels"] = ["docs"]
    pr3["comments"] = pr3["comments"][1:]  # comment 0 deleted on GitHub
    pr3["reviews"].append({**pr3["reviews"][0], "github_id": "PRR_3_new"})
    new = changed(9, t1 - timedelta(seconds=5))
    result = await store.commit_sync_chunk(
        first, [pr3, new], cursor_after="s1", done=False, total_prs=4
    )
    assert result.committed and not result.done
    assert (result.inserted_prs, result.comments_deleted, result.reviews_deleted) == (1, 1, 0)
    state = db.execute("SELECT * FROM progressive_backfill_state").fetchone()
    assert state["sync_watermark"] is None  # the walk is not over: the watermark stays
    assert (state["sync_cursor"], state["sync_target"]) == ("s1", t1)
    assert (state["processed_prs"], state["total_prs"], state["status"]) == (4, 4, "completed")

    second = await store.start_sync_chunk(lease, "s1")
    assert second is not None and second.chunk_number == 3 and second.cursor_before == "s1"
    pr2 = changed(2, t1 - timedelta(seconds=9))
    pr2["reviews"] = []
    done = await store.commit_sync_chunk(second, [pr2], cursor_after="s2", done=True, total_prs=4)
    assert done.committed and done.done and done.watermark == t1
    assert done.reviews_deleted == 2
    state = db.execute("SELECT * FROM progressive_backfill_state").fetchone()
    assert (state["sync_watermark"], state["sync_cursor"], state["leased_by"]) == (t1, None, None)
    assert state["fresh_as_of"] is not None and state["sync_count"] == 1

    pr = db.execute(
        "SELECT title, state, merged, labels FROM pull_requests WHERE number = 3"
    ).fetchone()
    assert pr == {"title": "Edited", "state": "CLOSED", "merged": False, "labels": ["docs"]}
    ids = {
        r["github_id"]
        for r in db.execute(
            "SELECT c.github_id FROM comments c JOIN pull_requests p ON p.id = c.pull_request_id "
            "WHERE p.number = 3"
        ).fetchall()
    }
    assert ids == {"PRC_3_1", "PRC_3_2"}
    assert db.execute(
        "SELECT count(*) AS n FROM reviews r JOIN pull_requests p ON p.id = r.pull_request_id "
        "WHERE p.number = 3"
    ).fetchone() == {"n": 3}
    kinds = db.execute(
        "SELECT kind, count(*) AS n FROM backfill_chunks GROUP BY kind ORDER BY kind"
    ).fetchall()
    assert kinds == [{"kind": "backfill", "n": 1}, {"kind": "sync", "n": 2}]
    # The spec's statistics still count pages of history only.
    stats = await store.chunk_statistics()
    assert (stats.completed, stats.total) == (1, 1)

    fresh = {f.repository: f for f in await store.freshness()}["o/r"]
    assert fresh.watermark == t1 and fresh.syncs == 1 and not fresh.syncing
    assert fresh.lag_seconds is not None and fresh.lag_seconds >= 0
    db.execute("UPDATE progressive_backfill_state SET fresh_as_of = now() - interval '1 hour'")
    fresh = {f.repository: f for f in await store.freshness()}["o/r"]
    assert fresh.lag_seconds is not None and 3600 <= fresh.lag_seconds < 3660


async def test_two_syncs_at_once_one_does_it_the_other_skips(
    store: Store, db: psycopg.Connection
) -> None:
    lease = await completed(store, db)
    assert lease is not None
    assert await store.claim_sync("s2", older_than=timedelta(0)) is None  # lease held: skip
    assert await store.claim_backfill("s2") is None  # completed: no backfill work either
    # A stale holder (its lease taken over after expiry) commits nothing.
    chunk = await store.start_sync_chunk(lease, "s1")
    assert chunk is not None
    db.execute("UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 s'")
    other = await store.claim_sync("s2", older_than=timedelta(0))
    assert other is not None and other.claim_token > lease.claim_token
    t = datetime(2026, 1, 3, tzinfo=UTC)
    stale = await store.commit_sync_chunk(
        chunk, [changed(1, t, title="stale")], cursor_after="x", done=True, total_prs=3
    )
    assert not stale.committed and stale.reason == "lease lost"
    state = db.execute("SELECT sync_watermark, sync_count FROM progressive_backfill_state")
    assert state.fetchone() == {"sync_watermark": None, "sync_count": 0}


async def test_due_and_requested_syncs(store: Store, db: psycopg.Connection) -> None:
    lease = await completed(store, db)
    assert lease is not None
    chunk = await store.start_sync_chunk(lease, "s1")
    assert chunk is not None
    await store.commit_sync_chunk(chunk, [], cursor_after=None, done=True, total_prs=3)
    # Synced just now: not due for a 15-minute interval, nor without one.
    assert await store.claim_sync("s1") is None
    assert await store.claim_sync("s1", older_than=None) is None
    db.execute("UPDATE progressive_backfill_state SET synced_at = synced_at - interval '16 min'")
    due = await store.claim_sync("s1")
    assert due is not None
    assert await store.release(due)
    assert await store.claim_sync("s1", older_than=None) is None
    assert await store.request_sync() == 1  # "sync now"
    requested = await store.claim_sync("s1", older_than=None)
    assert requested is not None and requested.watermark is None


async def test_recovery_fails_a_stuck_sync_chunk_and_the_walk_resumes(
    store: Store, db: psycopg.Connection
) -> None:
    lease = await completed(store, db)
    assert lease is not None
    first = await store.start_sync_chunk(lease, "s1")
    assert first is not None
    t = datetime(2026, 1, 4, tzinfo=UTC)
    await store.commit_sync_chunk(
        first, [changed(3, t)], cursor_after="s1", done=False, total_prs=3
    )
    stuck = await store.start_sync_chunk(lease, "s1")
    assert stuck is not None
    await store.record_chunk_prs(stuck, [1, 2])  # PRs that exist: still not 'completed'
    # The worker died: its lease lapses, the chunk ages (time moved in the database).
    db.execute("UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 s'")
    db.execute(
        "UPDATE backfill_chunks SET started_at = started_at - interval '31 minutes' WHERE id = %s",
        (stuck.id,),
    )
    (planned,) = await store.stuck_chunks(30)
    assert (planned.decision, planned.chunk_id) == ("failed", stuck.id)
    await store.recover_stuck_chunks(stuck_minutes=30, cleanup_days=30, dry_run=False)
    row = db.execute("SELECT status FROM backfill_chunks WHERE id = %s", (stuck.id,)).fetchone()
    assert row == {"status": "failed"}
    state = db.execute("SELECT sync_watermark, sync_cursor FROM progressive_backfill_state")
    assert state.fetchone() == {"sync_watermark": None, "sync_cursor": "s1"}
    resumed = await store.claim_sync("s2", older_than=None)  # unfinished walks come first
    assert resumed is not None and resumed.cursor == "s1"


async def test_a_sync_page_with_a_pr_the_database_refuses_stores_the_rest(
    store: Store, db: psycopg.Connection
) -> None:
    """The same rule as a backfill page (store_page): one PR whose values the database refuses
    is recorded in pull_request_failures with the reason; the page's other changes commit,
    their children replaced, and the watermark moves to the newest PR applied."""
    lease = await completed(store, db)
    assert lease is not None
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    chunk = await store.start_sync_chunk(lease, "s1")
    assert chunk is not None
    edited = changed(2, t1, title="Edited")
    edited["comments"] = []  # deleted on GitHub
    refused = changed(3, t1 + timedelta(seconds=5), additions=2**40)
    result = await store.commit_sync_chunk(
        chunk, [refused, edited], cursor_after="s1", done=True, total_prs=3
    )
    assert result.committed and result.done and result.watermark == t1
    assert [r["github_id"] for r in result.refused] == ["PR_3"]
    assert result.comments_deleted == 3
    titles = {
        r["number"]: r["title"] for r in db.execute("SELECT number, title FROM pull_requests")
    }
    assert titles[2] == "Edited" and titles[3] != "Edited"
    failure = db.execute("SELECT github_id, error, chunk_id FROM pull_request_failures").fetchone()
    assert failure["github_id"] == "PR_3" and "out of range" in failure["error"]
    assert failure["chunk_id"] == chunk.id
    row = db.execute(
        "SELECT status, pr_numbers, error FROM backfill_chunks WHERE id = %s", (chunk.id,)
    ).fetchone()
    assert row["status"] == "completed" and row["pr_numbers"] == [2]
    assert "1 PR(s) refused" in row["error"]
