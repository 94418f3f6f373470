"""commit_chunk keeps what it can and says what it could not (no silent loss).

Each test asserts the end state in the database, through both transports.
"""

from __future__ import annotations

from uuid import UUID

from core.store import Store
from tests.support.store_rows import counts, pull_request


async def chunk_of(store: Store, total: int, repo: str = "repo"):
    reg = await store.register_backfill("octo", repo, total)
    lease = await store.claim_backfill("w1", lease_seconds=120, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    return reg.backfill_state_id, chunk


def state(db, state_id: UUID) -> dict:
    return db.execute(
        "SELECT status, processed_prs, total_prs, cursor, last_error, error_count, "
        "cooldown_until IS NOT NULL AS cooling, leased_by FROM progressive_backfill_state "
        "WHERE id = %s",
        (state_id,),
    ).fetchone()


async def test_a_nul_in_one_title_stores_the_page_with_a_replacement(store: Store, db) -> None:
    """Case 13: Postgres text cannot hold U+0000; the page used to be refused whole."""
    state_id, chunk = await chunk_of(store, 5)
    page = [pull_request(n) for n in range(1, 6)]
    page[2]["title"] = "nul\x00here"
    page[3]["body"] = "a literal backslash-u0000: \\u0000 stays as typed"
    result = await store.commit_chunk(
        chunk, page, cursor_after="c5", has_next_page=False, total_prs=5
    )
    assert result.committed and result.inserted_prs == 5 and result.replaced_characters == 1
    titles = {
        r["number"]: r["title"] for r in db.execute("SELECT number, title FROM pull_requests")
    }
    assert titles[3] == "nul\ufffdhere"
    body = db.execute("SELECT body FROM pull_requests WHERE number = 4").fetchone()["body"]
    assert body == "a literal backslash-u0000: \\u0000 stays as typed"
    assert state(db, state_id)["status"] == "completed"


async def test_a_pr_the_database_refuses_fails_alone_and_visibly(store: Store, db) -> None:
    """Case 13 generalised (and 11): one PR whose values the database refuses (a number past
    2^31, additions past 2^31) no longer sinks its page; the others are stored, the refused
    ones are recorded with the database's reason, the cursor moves on."""
    state_id, chunk = await chunk_of(store, 6)
    page = [pull_request(n, reviews=1) for n in range(1, 5)]
    page.append({**pull_request(5), "number": 2**31})
    page.append({**pull_request(6), "additions": 2**40})
    result = await store.commit_chunk(
        chunk, page, cursor_after="c6", has_next_page=True, total_prs=6
    )

    assert result.committed and result.inserted_prs == 4
    assert sorted(r["github_id"] for r in result.refused) == ["PR_5", "PR_6"]
    assert counts(db)["pull_requests"] == 4 and counts(db)["reviews"] == 4
    failures = db.execute(
        "SELECT github_id, number, error, chunk_id FROM pull_request_failures ORDER BY github_id"
    ).fetchall()
    assert [(f["github_id"], f["number"]) for f in failures] == [("PR_5", 2**31), ("PR_6", 6)]
    assert all("out of range" in f["error"] and f["chunk_id"] == chunk.id for f in failures)
    row = db.execute("SELECT status, pr_numbers, error FROM backfill_chunks").fetchone()
    assert row["status"] == "completed" and row["pr_numbers"] == [1, 2, 3, 4]
    assert "2 PR(s) refused" in row["error"]
    after = state(db, state_id)
    assert after["cursor"] == "c6" and after["processed_prs"] == 4
    assert "2 PR(s) refused" in after["last_error"]


async def test_a_refused_pr_counts_as_explained_and_clears_once_stored(store: Store, db) -> None:
    state_id, chunk = await chunk_of(store, 3)
    bad = {**pull_request(3), "additions": 2**40}
    await store.commit_chunk(
        chunk,
        [pull_request(1), pull_request(2), bad],
        cursor_after="c3",
        has_next_page=False,
        total_prs=3,
    )
    # 2 stored + 1 refused (recorded, shown) = GitHub's 3: completed, the difference explained.
    done = state(db, state_id)
    assert (done["status"], done["processed_prs"]) == ("completed", 2)
    assert db.execute("SELECT count(*) AS n FROM pull_request_failures").fetchone()["n"] == 1
    # Stored later (a fixed schema, a sync): its failure goes.
    await store.reopen_backfill(state_id, 3)
    lease = await store.claim_backfill("w2", only=[state_id])
    assert lease is not None
    again = await store.start_chunk(lease, "w2")
    assert again is not None
    await store.commit_chunk(
        again, [pull_request(3)], cursor_after="c3b", has_next_page=False, total_prs=3
    )
    assert db.execute("SELECT count(*) AS n FROM pull_request_failures").fetchone()["n"] == 0
    assert state(db, state_id)["processed_prs"] == 3


async def test_the_same_review_twice_in_a_page_is_stored_once(store: Store, db) -> None:
    """Case 11: follow-up pages overlap; the same review/comment/PR id twice in one page."""
    state_id, chunk = await chunk_of(store, 2)
    first = pull_request(1, reviews=2, comments=2)
    first["reviews"].append(dict(first["reviews"][0]))
    first["comments"].append(dict(first["comments"][1]))
    page = [first, pull_request(2), pull_request(2)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c2", has_next_page=False, total_prs=2
    )
    assert result.committed and result.refused == [] and result.inserted_prs == 2
    assert counts(db) | {"contributors": 0} == {
        "pull_requests": 2,
        "reviews": 2,
        "comments": 2,
        "contributors": 0,
    }
    assert state(db, state_id)["status"] == "completed"


async def test_a_list_that_ends_short_of_githubs_count_is_not_completed(store: Store, db) -> None:
    """Case 10: one page saying hasNextPage: false at 37 of 300 used to complete the backfill.
    It cools down and is checked again with a fresh count; three short ends in a row with
    nothing new fail it with both numbers; it never reads 'completed' with data missing."""
    state_id, chunk = await chunk_of(store, 300)
    page = [pull_request(n) for n in range(1, 38)]
    await store.commit_chunk(chunk, page, cursor_after="c37", has_next_page=False, total_prs=300)
    first = state(db, state_id)
    assert first["status"] == "active" and first["cooling"] and first["leased_by"] is None
    assert first["processed_prs"] == 37 and first["error_count"] == 1
    assert "ended at 37 stored of the 300 it counts" in first["last_error"]

    for check in (2, 3):  # the re-checks find nothing new
        db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
        lease = await store.claim_backfill("w1", only=[state_id])
        assert lease is not None
        again = await store.start_chunk(lease, "w1")
        assert again is not None
        await store.commit_chunk(again, [], cursor_after=None, has_next_page=False, total_prs=300)
        assert state(db, state_id)["error_count"] == check
    final = state(db, state_id)
    assert final["status"] == "failed" and "checked 3 times" in final["last_error"]
    assert (
        db.execute(
            "SELECT count(*) AS n FROM progressive_backfill_state WHERE status = 'completed'"
        ).fetchone()["n"]
        == 0
    )


async def test_a_fresh_count_that_agrees_completes_the_backfill(store: Store, db) -> None:
    state_id, chunk = await chunk_of(store, 40)
    page = [pull_request(n) for n in range(1, 38)]
    await store.commit_chunk(chunk, page, cursor_after="c37", has_next_page=False, total_prs=40)
    assert state(db, state_id)["status"] == "active"
    db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
    lease = await store.claim_backfill("w1", only=[state_id])
    assert lease is not None
    again = await store.start_chunk(lease, "w1")
    assert again is not None
    # Three PRs were deleted on GitHub meanwhile: the fresh count says 37.
    await store.commit_chunk(again, [], cursor_after=None, has_next_page=False, total_prs=37)
    done = state(db, state_id)
    assert (done["status"], done["last_error"], done["error_count"]) == ("completed", None, 0)


async def test_progressed_at_moves_only_when_new_prs_are_stored(store: Store, db) -> None:
    """'Since when' a backfill has not advanced: new rows move it, nothing else does."""
    state_id, chunk = await chunk_of(store, 10)

    def progressed():
        return db.execute(
            "SELECT progressed_at FROM progressive_backfill_state WHERE id = %s", (state_id,)
        ).fetchone()["progressed_at"]

    assert progressed() is None
    await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=10
    )
    assert progressed() is not None
    db.execute(
        "UPDATE progressive_backfill_state SET progressed_at = now() - interval '1 hour', "
        "lease_expires_at = now() - interval '1 second'"
    )
    before = progressed()
    lease = await store.claim_backfill("w2", only=[state_id])
    again = await store.start_chunk(lease, "w2") if lease else None
    assert again is not None
    await store.commit_chunk(  # the same PR again: no new data, no progress
        again, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=10
    )
    assert progressed() == before
    assert (await store.backfill_progress())[0].progressed_at == before
    third = await store.start_chunk(lease, "w2")
    assert third is not None
    await store.commit_chunk(
        third, [pull_request(2)], cursor_after="c2", has_next_page=True, total_prs=10
    )
    assert progressed() > before
