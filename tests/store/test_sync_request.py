"""A "sync now" is honoured only by a walk that began after it (both transports; migration
20250210000000_requested_sync_fresh_as_of_request.sql). A walk resumed from before the request
finishes and moves the watermark to what it committed, and the request stays open: claim_sync
hands the repository out again, from the top, down to that watermark minus the margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.store import Store
from tests.support.store_rows import changed, completed


def lapse_lease(db: psycopg.Connection) -> None:
    """The syncing worker died: its lease is over (moved in the database, not slept)."""
    db.execute("UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 s'")


async def test_a_walk_resumed_from_before_the_request_is_followed_by_a_fresh_one(
    store: Store, db: psycopg.Connection
) -> None:
    lease = await completed(store, db)
    assert lease is not None
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    page = await store.start_sync_chunk(lease, "s1")
    assert page is not None
    first = await store.commit_sync_chunk(
        page, [changed(3, t1)], cursor_after="s1", done=False, total_prs=3
    )
    assert first.committed and not first.done
    lapse_lease(db)  # killed mid-walk

    assert await store.request_sync() == 1  # "sync now", after the walk began
    resumed = await store.claim_sync("s2", older_than=None)
    assert resumed is not None and resumed.cursor == "s1"  # the old walk, where it stopped
    page = await store.start_sync_chunk(resumed, "s2")
    assert page is not None
    end = await store.commit_sync_chunk(
        page, [changed(2, t1 - timedelta(hours=1))], cursor_after="s2", done=True, total_prs=3
    )
    assert end.committed and end.done
    assert end.watermark == t1  # the newest updatedAt the walks committed, no further
    assert await store.sync_request_pending(resumed.backfill_state_id)  # not fresh as of it

    again = await store.claim_sync("s2", older_than=None)
    assert again is not None and again.cursor is None  # from the top
    assert again.watermark == t1 and again.since == t1 - timedelta(seconds=600)
    page = await store.start_sync_chunk(again, "s2")
    assert page is not None
    t2 = t1 + timedelta(days=1)  # changed on GitHub after the old walk began
    fresh = await store.commit_sync_chunk(
        page, [changed(1, t2, title="Later")], cursor_after="s3", done=True, total_prs=3
    )
    assert fresh.committed and fresh.done and fresh.watermark == t2
    assert not await store.sync_request_pending(again.backfill_state_id)
    assert await store.claim_sync("s2", older_than=None) is None  # honoured: nothing due
    state = db.execute("SELECT * FROM progressive_backfill_state").fetchone()
    assert state is not None
    assert state["sync_count"] == 2 and state["fresh_as_of"] >= state["sync_requested_at"]
    title = db.execute("SELECT title FROM pull_requests WHERE number = 1").fetchone()
    assert title == {"title": "Later"}


async def test_a_walk_begun_after_the_request_honours_it_at_once(
    store: Store, db: psycopg.Connection
) -> None:
    lease = await completed(store, db)
    assert lease is not None
    lapse_lease(db)
    assert await store.request_sync() == 1
    assert await store.sync_request_pending(lease.backfill_state_id)
    claimed = await store.claim_sync("s2", older_than=None)
    assert claimed is not None and claimed.cursor is None
    page = await store.start_sync_chunk(claimed, "s2")
    assert page is not None
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    end = await store.commit_sync_chunk(
        page, [changed(3, t1)], cursor_after="s1", done=True, total_prs=3
    )
    assert end.committed and end.done
    assert not await store.sync_request_pending(claimed.backfill_state_id)
    assert await store.claim_sync("s2", older_than=None) is None
