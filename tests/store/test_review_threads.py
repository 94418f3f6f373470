"""Review threads and inline review comments: stored once by the commit functions, replaced by
a sync's page, left alone by a page that does not carry them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from core.store import Store
from tests.support.store_rows import completed, pull_request


def _threads(db: psycopg.Connection) -> dict[str, dict]:
    rows = db.execute(
        "SELECT th.github_id, th.is_resolved, p.number, ct.login AS resolved_by, "
        "       array_agg(rc.github_id ORDER BY rc.github_id) "
        "         FILTER (WHERE rc.github_id IS NOT NULL) AS comments "
        "  FROM review_threads th JOIN pull_requests p ON p.id = th.pull_request_id "
        "  LEFT JOIN contributors ct ON ct.id = th.resolved_by_id "
        "  LEFT JOIN review_comments rc ON rc.thread_id = th.id "
        " GROUP BY th.github_id, th.is_resolved, p.number, ct.login"
    ).fetchall()
    return {r["github_id"]: r for r in rows}


async def test_a_commit_stores_threads_and_their_comments_once(store: Store, db) -> None:
    await store.register_backfill("octo", "repo", 2)
    lease = await store.claim_backfill("w1", lease_seconds=120)
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(1, reviews=1, threads=[2, 1]), pull_request(2, threads=[])]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c2", has_next_page=False, total_prs=2
    )
    assert result.committed
    threads = _threads(db)
    assert set(threads) == {"PRT_1_0", "PRT_1_1"}
    assert threads["PRT_1_0"]["comments"] == ["PRT_1_0_c0", "PRT_1_0_c1"]
    assert (threads["PRT_1_0"]["is_resolved"], threads["PRT_1_0"]["resolved_by"]) == (
        True,
        "carol",
    )
    assert (threads["PRT_1_1"]["is_resolved"], threads["PRT_1_1"]["resolved_by"]) == (False, None)
    reply = db.execute(
        "SELECT rc.in_reply_to, rc.body, rc.database_id, ct.login, rc.path "
        "FROM review_comments rc JOIN contributors ct ON ct.id = rc.author_id "
        "WHERE rc.github_id = 'PRT_1_0_c1'"
    ).fetchone()
    assert reply == {
        "in_reply_to": "PRT_1_0_c0",
        "body": "nit 1",
        "database_id": 5001,
        "login": "reviewer1",
        "path": "src/app.py",
    }
    # Fenced like every row: the same chunk cannot commit its rows twice.
    again = await store.commit_chunk(
        chunk, page, cursor_after="c2", has_next_page=False, total_prs=2
    )
    assert not again.committed
    assert db.execute("SELECT count(*) AS n FROM review_comments").fetchone()["n"] == 3


async def test_a_sync_page_replaces_threads_and_one_without_them_leaves_them(
    store: Store, db
) -> None:
    lease = await completed(store, db, prs=2)
    assert lease is not None
    first = await store.start_sync_chunk(lease, "s1")
    assert first is not None
    at = datetime(2025, 1, 1, tzinfo=UTC)
    pr1 = pull_request(1, threads=[3, 1])
    pr1["updated_at"] = at.isoformat()
    pr2 = pull_request(2, threads=[1])
    pr2["updated_at"] = at.isoformat()
    await store.commit_sync_chunk(first, [pr1, pr2], cursor_after="s1", done=False, total_prs=2)
    assert _threads(db)["PRT_1_0"]["comments"] == ["PRT_1_0_c0", "PRT_1_0_c1", "PRT_1_0_c2"]

    # GitHub deleted the second thread and the last comment of the first; the thread was
    # resolved since.
    second = await store.start_sync_chunk(lease, "s1")
    assert second is not None
    pr1 = pull_request(1, threads=[2])
    pr1["updated_at"] = (at + timedelta(hours=1)).isoformat()
    pr2 = pull_request(2)  # a page that did not ask for threads: nothing of them changes
    pr2["updated_at"] = at.isoformat()
    await store.commit_sync_chunk(second, [pr1, pr2], cursor_after="s2", done=True, total_prs=2)
    threads = _threads(db)
    assert set(threads) == {"PRT_1_0", "PRT_2_0"}
    assert threads["PRT_1_0"]["comments"] == ["PRT_1_0_c0", "PRT_1_0_c1"]
    assert threads["PRT_1_0"]["is_resolved"] is True
