"""Building rows and pages for store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from core.store import Store
from core.store.models import SyncLease


def actor(login: str, kind: str = "User") -> dict[str, Any]:
    return {"github_id": f"U_{login}", "login": login, "type": kind, "database_id": None}


def pull_request(
    number: int,
    *,
    reviews: int = 0,
    comments: int = 0,
    author: str | None = "alice",
    prefix: str = "PR",
    threads: list[int] | None = None,
) -> dict[str, Any]:
    """A PR as the commit functions read it; `threads`: review comments per review thread
    (None: the PR says nothing of its threads)."""
    created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=number)
    return {
        "github_id": f"{prefix}_{number}",
        "database_id": 1000 + number,
        "number": number,
        "title": f"Change {number}",
        "body": "body",
        "state": "MERGED",
        "is_draft": False,
        "merged": True,
        "created_at": created.isoformat(),
        "updated_at": created.isoformat(),
        "closed_at": created.isoformat(),
        "merged_at": created.isoformat(),
        "additions": 10,
        "deletions": 2,
        "changed_files": 1,
        "base_ref_name": "main",
        "head_ref_name": f"feature-{number}",
        "url": f"https://github.com/o/r/pull/{number}",
        "author": actor(author) if author else None,
        "commits_count": 1,
        "labels": ["bug"],
        "reviews": [
            {
                "github_id": f"{prefix}R_{number}_{i}",
                "database_id": None,
                "author": actor(f"reviewer{i % 3}"),
                "state": "APPROVED",
                "body": "",
                "submitted_at": created.isoformat(),
                "created_at": created.isoformat(),
                "url": None,
            }
            for i in range(reviews)
        ],
        "comments": [
            {
                "github_id": f"{prefix}C_{number}_{i}",
                "database_id": None,
                "author": actor("dependabot[bot]", "Bot") if i % 2 else None,
                "body": "comment",
                "created_at": created.isoformat(),
                "updated_at": None,
                "url": None,
            }
            for i in range(comments)
        ],
        "review_threads": None
        if threads is None
        else [review_thread(f"{prefix}T_{number}_{t}", n, created) for t, n in enumerate(threads)],
    }


def review_thread(github_id: str, comments: int, created: datetime) -> dict[str, Any]:
    """A thread with `comments` inline comments, each replying to the first."""
    first = f"{github_id}_c0"
    return {
        "github_id": github_id,
        "path": "src/app.py",
        "line": 12,
        "original_line": 10,
        "start_line": None,
        "original_start_line": None,
        "diff_side": "RIGHT",
        "is_resolved": comments % 2 == 0,
        "is_outdated": False,
        "is_collapsed": False,
        "resolved_by": actor("carol") if comments % 2 == 0 else None,
        "comments": [
            {
                "github_id": f"{github_id}_c{i}",
                "database_id": 5000 + i,
                "author": actor(f"reviewer{i % 2}"),
                "body": f"nit {i}",
                "path": "src/app.py",
                "line": 12,
                "original_line": 10,
                "diff_hunk": "@@ -1 +1 @@",
                "review_id": None,
                "in_reply_to": first if i else None,
                "created_at": created.isoformat(),
                "updated_at": created.isoformat(),
                "url": None,
            }
            for i in range(comments)
        ],
    }


async def completed(store: Store, db: psycopg.Connection, prs: int = 3) -> SyncLease | None:
    """A repository backfilled in one page (PR 1..prs), then claimed for a sync."""
    reg = await store.register_backfill("o", "r", prs)
    lease = await store.claim_backfill("w1")
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(n, reviews=2, comments=3) for n in range(1, prs + 1)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c1", has_next_page=False, total_prs=prs
    )
    assert result.status == "completed"
    assert reg.backfill_state_id == lease.backfill_state_id
    return await store.claim_sync("s1", older_than=timedelta(0))


def changed(number: int, at: datetime, **fields: Any) -> dict[str, Any]:
    pr = pull_request(number, reviews=2, comments=3)
    pr.update(updated_at=at.isoformat(), **fields)
    return pr


def counts(db: psycopg.Connection) -> dict[str, int]:
    return {
        t: db.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
        for t in ("pull_requests", "reviews", "comments", "contributors")
    }
