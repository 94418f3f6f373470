"""The rows stored per repository that `stats` shows are kept by the writes (migration
20250661000000: repository_row_counts and its triggers), not counted per call. After every
kind of write and delete - a backfill page, a re-stored page, a sync page that replaces
children, the comment and review-comment catch-ups, their deletions, remove - they equal a
real count(*) of every table, per repository, through either transport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from core.store import Store
from tests.support.row_counts import KINDS, real_counts
from tests.support.store_rows import actor, changed, pull_request


async def assert_exact(store: Store, db: psycopg.Connection) -> dict[UUID, dict[str, int]]:
    kept = {c.repository_id: {k: getattr(c, k) for k in KINDS} for c in await store.data_counts()}
    real = real_counts(db)
    assert kept == real
    size = await store.database_size()
    assert size.prs == sum(r["pull_requests"] for r in real.values())
    return real


async def backfilled(store: Store, name: str, prs: list[dict[str, Any]]) -> UUID:
    reg = await store.register_backfill("o", name, len(prs))
    lease = await store.claim_backfill(f"w-{name}")
    assert lease is not None and lease.backfill_state_id == reg.backfill_state_id
    chunk = await store.start_chunk(lease, f"w-{name}")
    assert chunk is not None
    result = await store.commit_chunk(
        chunk, prs, cursor_after="c1", has_next_page=False, total_prs=len(prs)
    )
    assert result.status == "completed"
    return reg.backfill_state_id


async def test_kept_counts_equal_real_counts_after_every_write_and_delete(
    store: Store, db: psycopg.Connection
) -> None:
    assert await assert_exact(store, db) == {}
    # A backfill page: PRs with reviews, comments, threads and their comments.
    page = [pull_request(n, reviews=2, comments=3, threads=[2, 1]) for n in (1, 2, 3)]
    a = await backfilled(store, "a", page)
    other = [pull_request(n, reviews=1, comments=1, threads=[1], prefix="B") for n in (1, 2)]
    b = await backfilled(store, "b", other)
    real = await assert_exact(store, db)
    assert sorted(sum(r[k] for r in real.values()) for k in KINDS) == sorted([5, 8, 11, 8, 11])

    # A sync page: re-stores PR 3 (the upsert's update path counts nothing), replaces its
    # children (a comment gone, a review added, a thread gone), adds PR 9.
    sync = await store.claim_sync("s1", older_than=timedelta(0))
    assert sync is not None and sync.backfill_state_id in (a, b)
    chunk = await store.start_sync_chunk(sync, "s1")
    assert chunk is not None
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    prefix = "PR" if sync.backfill_state_id == a else "B"
    pr3 = changed(3 if prefix == "PR" else 2, t1)
    pr3.update(pull_request(int(pr3["number"]), reviews=3, comments=1, threads=[2], prefix=prefix))
    pr3["updated_at"] = t1.isoformat()
    new = changed(9, t1 - timedelta(seconds=5))
    new["github_id"] = f"{prefix}_new_9"
    result = await store.commit_sync_chunk(
        chunk, [pr3, new], cursor_after=None, done=True, total_prs=4
    )
    assert result.committed
    await assert_exact(store, db)

    # The conversation comments' catch-up: a new comment on a stored PR; then its deletion.
    at = datetime(2026, 2, 1, tzinfo=UTC)
    got = await store.catch_up_comments(
        "comments",
        a,
        [
            {
                "github_id": "IC_new",
                "database_id": 777,
                "number": 1,
                "body": "late",
                "created_at": at.isoformat(),
                "updated_at": at.isoformat(),
                "url": None,
                "author": actor("dave"),
            }
        ],
        at,
    )
    assert got["inserted"] == 1
    await assert_exact(store, db)
    assert await store.delete_comments("comments", a, ["IC_new", "PRC_1_0"]) == 2
    await assert_exact(store, db)

    # The review comments' catch-up: a reply to a stored thread's first comment; deletions.
    first = db.execute(
        "SELECT c.database_id FROM review_comments c JOIN pull_requests p "
        "ON p.id = c.pull_request_id WHERE p.github_id = 'PR_1' AND c.github_id = 'PRT_1_0_c0'"
    ).fetchone()
    got = await store.catch_up_comments(
        "review_comments",
        a,
        [
            {
                "github_id": "RC_reply",
                "database_id": 9001,
                "number": 1,
                "body": "reply",
                "created_at": at.isoformat(),
                "updated_at": at.isoformat(),
                "url": None,
                "path": "src/app.py",
                "line": 12,
                "original_line": 10,
                "in_reply_to_id": first["database_id"],
                "review_database_id": None,
                "author": actor("erin"),
            }
        ],
        at,
    )
    assert got["inserted"] == 1
    await assert_exact(store, db)
    assert await store.delete_comments("review_comments", a, ["RC_reply", "PRT_1_0_c1"]) == 2
    await assert_exact(store, db)

    # remove: the repository and everything stored for it; the other's counts stay exact.
    repo_b = db.execute(
        "SELECT repository_id FROM progressive_backfill_state WHERE id = %s", (b,)
    ).fetchone()["repository_id"]
    await store.remove_repository(repo_b, dry_run=False)
    real = await assert_exact(store, db)
    assert list(real) != [] and repo_b not in real
    kept = db.execute("SELECT count(*) AS n FROM repository_row_counts").fetchone()["n"]
    assert kept == 1  # the removed repository's row went with it
