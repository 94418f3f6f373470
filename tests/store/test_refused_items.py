"""The SQL side of "the smallest unit that is bad is the one refused", on both transports.

A commit's page carries PRs GitHub sent wrong as refusals beside the PRs to store; store_page
records both kinds of refusal (GitHub's, the database's) in one transaction, counting
attempts; pull_requests_to_retry hands the due ones back to the lease's holder, bounded and
backing off; a retried PR stored clears the failure it was asked for. Text the store cannot
hold is made storable in every argument, not only the page.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from core.store import Store
from core.store.models import Lease
from tests.support.store_rows import changed, completed, pull_request


async def leased(store: Store, total: int) -> tuple[Lease, Any]:
    reg = await store.register_backfill("octo", "items", total)
    lease = await store.claim_backfill("w1", lease_seconds=120, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    return lease, chunk


def refusal(key: str, number: int | None, reason: str, **position: str) -> dict[str, Any]:
    return {"refused": reason, "github_id": key, "number": number, **position}


def failures(db: psycopg.Connection) -> dict[str, dict[str, Any]]:
    rows = db.execute(
        "SELECT github_id, number, error, attempts, position_cursor, position_order, chunk_id "
        "FROM pull_request_failures"
    ).fetchall()
    return {r["github_id"]: r for r in rows}


def backoff_passed(db: psycopg.Connection) -> None:
    db.execute("UPDATE pull_request_failures SET failed_at = failed_at - interval '1 day'")


async def test_refusals_ride_in_the_page_and_count_for_completion(store: Store, db) -> None:
    lease, chunk = await leased(store, 4)
    page = [pull_request(1), pull_request(2)]
    refused = [
        refusal("PR_3", 3, "GitHub answered an error for this PR: FORBIDDEN at ...: words"),
        refusal("cursor:c4", None, "a null node", position_cursor="c3",
                position_order="CREATED_AT ASC"),
    ]  # fmt: skip
    result = await store.commit_chunk(
        chunk, page, cursor_after="c4", has_next_page=False, total_prs=4, refused=refused
    )
    assert result.committed and result.inserted_prs == 2 and len(result.refused) == 2
    found = failures(db)
    assert set(found) == {"PR_3", "cursor:c4"}
    assert found["PR_3"]["number"] == 3 and "FORBIDDEN" in found["PR_3"]["error"]
    assert found["cursor:c4"]["position_cursor"] == "c3" and found["PR_3"]["attempts"] == 1
    assert all(f["chunk_id"] == chunk.id for f in found.values())
    row = db.execute(
        "SELECT c.error, s.status, s.last_error FROM backfill_chunks c "
        "JOIN progressive_backfill_state s ON s.id = c.backfill_state_id"
    ).fetchone()
    # 2 stored + 2 refused = GitHub's 4: completed, and said why it is not all stored.
    assert row["status"] == "completed"
    assert "2 PR(s) refused" in row["error"] and "2 PR(s) refused" in row["last_error"]
    progress = await store.backfill_progress()
    assert progress[0].refused_prs == 2
    assert lease.backfill_state_id == progress[0].backfill_state_id


async def test_refused_prs_are_handed_back_bounded_and_backing_off(store: Store, db) -> None:
    lease, chunk = await leased(store, 3)
    await store.commit_chunk(
        chunk,
        [pull_request(1)],
        cursor_after="c1",
        has_next_page=True,
        total_prs=3,
        refused=[
            refusal("PR_2", 2, "short"),
            refusal(
                "cursor:c3", None, "null", position_cursor="c2", position_order="CREATED_AT ASC"
            ),
        ],
    )
    assert await store.pull_requests_to_retry(lease) == []  # refused just now: backing off
    backoff_passed(db)
    due = {r.github_id: r for r in await store.pull_requests_to_retry(lease)}
    assert due["PR_2"].node_id == "PR_2" and due["PR_2"].number == 2
    assert due["cursor:c3"].node_id is None and due["cursor:c3"].position_cursor == "c2"
    assert due["cursor:c3"].position_order == "CREATED_AT ASC"
    # Only the lease's holder is handed them.
    stale = lease.model_copy(update={"claim_token": lease.claim_token - 1})
    assert await store.pull_requests_to_retry(stale) == []

    # Refused again and again: attempts counted; after the 4th refusal (3 retries) never due.
    for attempts in (2, 3, 4):
        again = await store.start_chunk(lease, "w1")
        assert again is not None
        await store.commit_chunk(
            again, [], cursor_after="c1", has_next_page=True, total_prs=3,
            refused=[refusal("PR_2", 2, f"short, try {attempts}")],
        )  # fmt: skip
        assert failures(db)["PR_2"]["attempts"] == attempts
        backoff_passed(db)
    due_now = {r.github_id for r in await store.pull_requests_to_retry(lease)}
    assert due_now == {"cursor:c3"}
    assert failures(db)["PR_2"]["error"] == "short, try 4"


async def test_a_retried_pr_stored_clears_the_failure_it_was_asked_for(store: Store, db) -> None:
    lease, chunk = await leased(store, 2)
    await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c2", has_next_page=True, total_prs=2,
        refused=[refusal("cursor:c2", None, "null", position_cursor="c1",
                         position_order="CREATED_AT ASC")],
    )  # fmt: skip
    again = await store.start_chunk(lease, "w1")
    assert again is not None
    retried = {**pull_request(2), "retry_of": "cursor:c2"}  # asked for by its position
    result = await store.commit_chunk(
        again, [retried], cursor_after="c2", has_next_page=False, total_prs=2
    )
    assert result.committed and result.inserted_prs == 1 and result.status == "completed"
    assert failures(db) == {}


async def test_a_value_past_an_index_refuses_its_pr_alone(store: Store, db) -> None:
    """An id GitHub would never send, too long for the unique index: the database refuses
    that PR (program_limit_exceeded) like any other value; the key it is recorded by is
    bounded to what the failures' index holds; the rest of the page commits."""
    _, chunk = await leased(store, 3)
    noise = hashlib.sha512(b"seed").hexdigest()
    huge = {
        **pull_request(2),
        "github_id": "PR_"
        + "".join(hashlib.sha512(f"{noise}{i}".encode()).hexdigest() for i in range(80)),
    }  # 10,000 characters that do not compress under the index's 2,704 bytes
    result = await store.commit_chunk(
        chunk, [pull_request(1), huge, pull_request(3)], cursor_after="c3",
        has_next_page=False, total_prs=3,
    )  # fmt: skip
    assert result.committed and result.inserted_prs == 2 and result.status == "completed"
    [failure] = failures(db).values()
    assert failure["number"] == 2 and "the database refused it" in failure["error"]
    assert len(failure["github_id"]) < 300 and "md5" in failure["github_id"]


async def test_a_state_github_added_later_is_stored_as_sent(store: Store, db) -> None:
    _, chunk = await leased(store, 1)
    pr = {**pull_request(1), "state": "QUEUED"}
    result = await store.commit_chunk(
        chunk, [pr], cursor_after="c1", has_next_page=False, total_prs=1
    )
    assert result.committed and result.refused == []
    assert db.execute("SELECT state FROM pull_requests").fetchone()["state"] == "QUEUED"


async def test_text_the_store_cannot_hold_is_made_storable_in_every_argument(
    store: Store, db
) -> None:
    """Lone surrogates and NULs: in the page (counted), and in a plain argument such as a
    refusal's reason quoting GitHub's words (neither wire could carry them)."""
    _, chunk = await leased(store, 3)
    page = [pull_request(n) for n in (1, 2)]
    page[0]["title"] = "half an emoji \ud83d here"
    page[1]["reviews"] = [{**pull_request(2, reviews=1)["reviews"][0], "body": "\udfff\x00"}]
    assert await store.refuse_pull_request(chunk, "PR_3", 3, "GitHub said \ud800 and \x00")
    result = await store.commit_chunk(
        chunk, page, cursor_after="c3", has_next_page=False, total_prs=3
    )
    assert result.committed and result.replaced_characters == 3
    title = db.execute("SELECT title FROM pull_requests WHERE number = 1").fetchone()["title"]
    assert title == "half an emoji \ufffd here"
    assert db.execute("SELECT body FROM reviews").fetchone()["body"] == "\ufffd\ufffd"
    assert failures(db)["PR_3"]["error"] == "GitHub said \ufffd and \ufffd"


async def test_a_retried_pr_never_moves_a_syncs_watermark(store: Store, db) -> None:
    """A refused PR asked for again rides in a sync page but is not part of the walk: it may
    be newer than the walk's start, so only the walk's own PRs move the watermark."""
    lease = await completed(store, db)
    assert lease is not None
    walked, later = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC)
    chunk = await store.start_sync_chunk(lease, "s1")
    assert chunk is not None
    retried = {**changed(2, later), "retry_of": "PR_2"}
    result = await store.commit_sync_chunk(
        chunk, [changed(3, walked), retried], cursor_after="s1", done=True, total_prs=3,
        refused=[refusal("PR_1", 1, "short again")],
    )  # fmt: skip
    assert result.committed and result.watermark == walked
    state = db.execute("SELECT sync_watermark, last_error FROM progressive_backfill_state")
    row = state.fetchone()
    assert row["sync_watermark"] == walked and "1 PR(s) refused" in row["last_error"]
    assert set(failures(db)) == {"PR_1"}
    assert walked - timedelta(days=1) < row["sync_watermark"]
