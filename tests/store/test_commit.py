"""commit_chunk: one transaction, exactly-once rows, fenced, nothing partial on failure."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from core.store import Store
from tests.support.held_statement import end_the_held_statement
from tests.support.store_rows import counts, pull_request


async def claimed_chunk(store: Store, name: str = "repo"):
    await store.register_backfill("octo", name, 5)
    lease = await store.claim_backfill("w1", lease_seconds=120)
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    return lease, chunk


async def test_commit_stores_everything_and_advances_the_cursor(store: Store, db) -> None:
    _, chunk = await claimed_chunk(store)
    page = [pull_request(1, reviews=3, comments=2), pull_request(2, author=None)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="cursor-2", has_next_page=True, total_prs=5
    )
    assert result.committed and result.inserted_prs == 2 and result.processed_prs == 2
    assert (result.reviews, result.comments) == (3, 2)
    # alice, reviewer0..2, dependabot[bot]; deleted authors (None) are not contributors
    assert counts(db) == {"pull_requests": 2, "reviews": 3, "comments": 2, "contributors": 5}
    pr = db.execute("SELECT author_id, labels FROM pull_requests WHERE number = 2").fetchone()
    assert pr == {"author_id": None, "labels": ["bug"]}
    chunk_row = db.execute(
        "SELECT status, pr_numbers, completed_at IS NOT NULL AS done, cursor_after "
        "FROM backfill_chunks WHERE id = %s",
        (chunk.id,),
    ).fetchone()
    assert chunk_row == {
        "status": "completed",
        "pr_numbers": [1, 2],
        "done": True,
        "cursor_after": "cursor-2",
    }
    state = db.execute(
        "SELECT cursor, processed_prs, total_prs, status FROM progressive_backfill_state"
    ).fetchone()
    assert state == {"cursor": "cursor-2", "processed_prs": 2, "total_prs": 5, "status": "active"}


async def test_a_chunk_commits_once(store: Store, db) -> None:
    _, chunk = await claimed_chunk(store)
    first = await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=5
    )
    second = await store.commit_chunk(
        chunk, [pull_request(2)], cursor_after="c2", has_next_page=True, total_prs=5
    )
    assert first.committed and not second.committed and second.reason == "chunk is completed"
    assert counts(db)["pull_requests"] == 1


async def test_processed_prs_counts_only_new_rows(store: Store, db) -> None:
    lease, chunk = await claimed_chunk(store)
    await store.commit_chunk(
        chunk,
        [pull_request(1), pull_request(2)],
        cursor_after="c2",
        has_next_page=True,
        total_prs=5,
    )
    again = await store.start_chunk(lease, "w1")
    assert again is not None and again.chunk_number == 2
    # The same PRs fetched again (an overlap) plus one new: only the new one counts.
    result = await store.commit_chunk(
        again,
        [pull_request(2), pull_request(3)],
        cursor_after="c3",
        has_next_page=False,
        total_prs=3,
    )
    assert result.inserted_prs == 1 and result.upserted_prs == 2
    state = db.execute(
        "SELECT processed_prs, total_prs, status, leased_by, completed_at IS NOT NULL "
        "AS done FROM progressive_backfill_state"
    ).fetchone()
    assert state == {
        "processed_prs": 3,
        "total_prs": 3,
        "status": "completed",
        "leased_by": None,
        "done": True,
    }
    assert counts(db)["pull_requests"] == 3


async def test_an_error_inside_the_commit_leaves_nothing(store: Store, db) -> None:
    """An error that is not about one PR's data (here a trigger failing after PRs and reviews
    went in) rolls the whole commit back: no row, no cursor, the chunk still processing."""
    _, chunk = await claimed_chunk(store)
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON comments FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    with pytest.raises(psycopg.errors.RaiseException, match="disk on fire"):
        await store.commit_chunk(
            chunk,
            [pull_request(1, reviews=1), pull_request(2, reviews=2, comments=1)],
            cursor_after="c2",
            has_next_page=True,
            total_prs=5,
        )
    assert counts(db) == {"pull_requests": 0, "reviews": 0, "comments": 0, "contributors": 0}
    row = db.execute("SELECT status FROM backfill_chunks WHERE id = %s", (chunk.id,)).fetchone()
    assert row["status"] == "processing"
    state = db.execute("SELECT cursor, processed_prs FROM progressive_backfill_state").fetchone()
    assert state == {"cursor": None, "processed_prs": 0}


async def test_a_pr_refused_for_its_data_is_left_out_whole(store: Store, db) -> None:
    """A data error in one PR's comment refuses that PR with its reviews and comments (never
    half a PR); the other PR of the page is stored whole."""
    _, chunk = await claimed_chunk(store)
    bad = pull_request(2, reviews=2, comments=1)
    bad["comments"][0]["created_at"] = None  # violates NOT NULL after its PR and reviews
    result = await store.commit_chunk(
        chunk,
        [pull_request(1, reviews=1), bad],
        cursor_after="c2",
        has_next_page=True,
        total_prs=5,
    )
    assert result.committed and [r["number"] for r in result.refused] == [2]
    assert counts(db) == {"pull_requests": 1, "reviews": 1, "comments": 0, "contributors": 2}
    state = db.execute("SELECT cursor, processed_prs FROM progressive_backfill_state").fetchone()
    assert state == {"cursor": "c2", "processed_prs": 1}


@pytest.mark.psycopg_only
async def test_a_connection_killed_mid_commit_leaves_nothing(
    store: Store, db, database_url
) -> None:
    """Kill the committing backend while it is inside commit_chunk (held there by a trigger)."""
    _, chunk = await claimed_chunk(store)
    db.execute(
        "CREATE FUNCTION slow_comment() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$;"
        "CREATE TRIGGER slow BEFORE INSERT ON comments FOR EACH ROW EXECUTE FUNCTION slow_comment()"
    )
    page = [pull_request(1, reviews=2, comments=1)]
    with end_the_held_statement(database_url) as ended, pytest.raises(psycopg.OperationalError):
        await store.commit_chunk(chunk, page, cursor_after="c1", has_next_page=True, total_prs=5)
    assert ended
    db.execute("DROP TRIGGER slow ON comments")
    assert counts(db) == {"pull_requests": 0, "reviews": 0, "comments": 0, "contributors": 0}
    row = db.execute("SELECT status FROM backfill_chunks WHERE id = %s", (chunk.id,)).fetchone()
    assert row["status"] == "processing"
    # The store is usable afterwards and the chunk can still be committed by its holder.
    result = await store.commit_chunk(
        chunk, page, cursor_after="c1", has_next_page=True, total_prs=5
    )
    assert result.committed and result.inserted_prs == 1


async def test_fail_chunk_keeps_the_cursor_and_cools_down(store: Store, db) -> None:
    lease, chunk = await claimed_chunk(store)
    assert await store.fail_chunk(chunk, "502 from GitHub", cooldown_seconds=30)
    assert not await store.fail_chunk(chunk, "again")  # no longer processing
    row = db.execute(
        "SELECT status, error, failed_at IS NOT NULL AS failed FROM backfill_chunks"
    ).fetchone()
    assert row == {"status": "failed", "error": "502 from GitHub", "failed": True}
    state = db.execute(
        "SELECT cursor, error_count, last_error, cooldown_until > now() AS cooling "
        "FROM progressive_backfill_state"
    ).fetchone()
    assert state == {
        "cursor": None,
        "error_count": 1,
        "last_error": "502 from GitHub",
        "cooling": True,
    }
    assert await store.release(lease)
    assert await store.claim_backfill("w2") is None  # cooling down, not paused forever
    db.execute("UPDATE progressive_backfill_state SET cooldown_until = now() - interval '1 second'")
    again = await store.claim_backfill("w2")
    assert again is not None and again.cursor is None


async def test_fail_backfill_ends_it_with_the_reason(store: Store, db) -> None:
    lease, _ = await claimed_chunk(store)
    assert await store.fail_backfill(lease, "repository octo/repo no longer exists")
    state = db.execute(
        "SELECT status, last_error, leased_by FROM progressive_backfill_state"
    ).fetchone()
    assert state == {
        "status": "failed",
        "last_error": "repository octo/repo no longer exists",
        "leased_by": None,
    }
    assert await store.claim_backfill("w2") is None


async def test_concurrent_commits_sharing_authors_do_not_deadlock(store: Store, db) -> None:
    """Two repositories' pages with the same contributors, committed at once, many times."""
    leases = []
    for name in ("a", "b", "c", "d"):
        await store.register_backfill("octo", name, 1000)
    for i in range(4):
        lease = await store.claim_backfill(f"w{i}", lease_seconds=120)
        assert lease is not None
        leases.append(lease)

    async def run(lease, prefix: str) -> None:
        for page in range(10):
            chunk = await store.start_chunk(lease, "w")
            assert chunk is not None
            prs = [
                pull_request(
                    page * 20 + n + 1, reviews=3, comments=2, prefix=prefix, author=f"user{n % 7}"
                )
                for n in range(20)
            ]
            result = await store.commit_chunk(
                chunk, prs, cursor_after=f"c{page}", has_next_page=True, total_prs=1000
            )
            assert result.committed

    await asyncio.gather(*(run(lease, f"P{i}") for i, lease in enumerate(leases)))
    assert counts(db)["pull_requests"] == 800
    assert (
        db.execute("SELECT sum(processed_prs) AS n FROM progressive_backfill_state").fetchone()["n"]
        == 800
    )


@pytest.mark.psycopg_only
async def test_a_page_commits_after_the_server_ended_every_idle_connection(
    store: Store, db
) -> None:
    """A restart or an administrator ends every session while the worker waits on GitHub:
    the pool's connections die idle. The page, when it is in, still commits (and with it the
    PRs GitHub was paid for): a connection the server ended while it sat in the pool is not
    handed out. Before, the commit got a dead one and failed, and the page was fetched again."""
    _, chunk = await claimed_chunk(store)
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 10
    while db.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchone() != {"n": 0}:
        assert time.monotonic() < deadline, "the store's backends never went away"
        await asyncio.sleep(0.02)
    page = [pull_request(1, reviews=1, comments=1)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c1", has_next_page=True, total_prs=5
    )
    assert result.committed
    assert counts(db)["pull_requests"] == 1
    row = db.execute("SELECT status FROM backfill_chunks WHERE id = %s", (chunk.id,)).fetchone()
    assert row["status"] == "completed"
