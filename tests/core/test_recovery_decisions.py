"""The spec's recovery logic, case by case just either side of each threshold (real Postgres,
time moved in the database)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.recovery import recover
from core.store import Store
from tests.support.recovery_rows import age, chunk_row, stuck_chunk
from tests.support.store_rows import pull_request


@dataclass(frozen=True)
class Case:
    repo: str
    minutes: int
    expected: int | None  # PR numbers the worker recorded (None: never recorded)
    stored: int
    status: str  # after recovery at 30 minutes
    error: str | None
    recovered: bool


CASES = [
    Case("young", 29, 100, 100, "processing", None, False),  # 29 < 30: not stuck
    Case("all-stored", 31, 100, 100, "completed", None, True),
    Case("p79", 31, 100, 79, "failed", "partial 79/100", False),
    Case("p80", 31, 100, 80, "completed", None, True),
    Case("p81", 31, 100, 81, "completed", None, True),
    Case("four-of-five", 31, 5, 4, "completed", None, True),  # exactly 80% of a short page
    Case("three-of-four", 31, 4, 3, "failed", "partial 3/4", False),  # 75%
    Case("none-stored", 31, 100, 0, "failed", "partial 0/100", False),
    Case("empty-page", 31, 0, 0, "failed", "no PR data", False),
    Case("never-recorded", 31, None, 0, "failed", "no PR data", False),
    Case("day-old", 24 * 60, 10, 10, "completed", None, True),
]


async def test_each_case_gets_the_specs_decision(store: Store, db) -> None:
    chunks = {
        c.repo: (
            await stuck_chunk(
                store, db, c.repo, minutes=c.minutes, expected=c.expected, stored=c.stored
            )
        )[1]
        for c in CASES
    }

    report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)

    planned = {d.repository: d for d in report.chunks}
    assert set(planned) == {f"octo/{c.repo}" for c in CASES if c.minutes > 30}
    assert all(d.outcome == "applied" for d in report.chunks) and report.ok
    for case in CASES:
        row = chunk_row(db, chunks[case.repo].id)
        assert (row["status"], row["error"], row["recovered"]) == (
            case.status,
            case.error,
            case.recovered,
        ), case
        # The CHECK constraints' pairs hold: completed <=> completed_at, failed <=> failed_at.
        assert (row["completed_at"] is not None) == (case.status == "completed")
        assert (row["failed_at"] is not None) == (case.status == "failed")
        if case.minutes > 30:
            decision = planned[f"octo/{case.repo}"]
            assert decision.decision == case.status
            assert (decision.stored, decision.expected) == (case.stored, case.expected or 0)
            assert decision.age_seconds >= case.minutes * 60


@pytest.mark.parametrize(("minutes", "stuck"), [(29, False), (31, True)])
async def test_the_threshold_is_minutes_on_the_database_clock(
    store: Store, db, minutes: int, stuck: bool
) -> None:
    _, chunk = await stuck_chunk(store, db, "repo", minutes=minutes, expected=3, stored=3)
    report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    assert [d.chunk_id for d in report.chunks] == ([chunk.id] if stuck else [])
    assert chunk_row(db, chunk.id)["status"] == ("completed" if stuck else "processing")


@pytest.mark.parametrize(
    ("minutes", "lease_live", "stuck"),
    [(29, False, False), (31, False, True), (29, True, False), (31, True, False)],
)
async def test_a_chunk_whose_lease_is_live_is_never_stuck(
    store: Store, db, minutes: int, lease_live: bool, stuck: bool
) -> None:
    """A worker waiting out a long secondary-limit backoff keeps renewing its
    lease; its chunk is left alone however old it is, and the page it buys after the wait
    still commits. Once the lease has run out, the threshold decides."""
    reg = await store.register_backfill("octo", "waiting", 20)
    lease = await store.claim_backfill("w1", lease_seconds=60, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None and await store.record_chunk_prs(chunk, [1, 2])
    age(db, chunk.id, minutes=minutes)
    if not lease_live:
        db.execute(
            "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 s'"
        )

    assert (await store.chunk_statistics(stuck_minutes=30)).stuck == int(stuck)
    assert [c.chunk_id for c in await store.stuck_chunks(stuck_minutes=30)] == (
        [chunk.id] if stuck else []
    )
    report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    assert [d.chunk_id for d in report.chunks] == ([chunk.id] if stuck else [])
    assert chunk_row(db, chunk.id)["status"] == ("failed" if stuck else "processing")
    if lease_live:  # the wait is over: the page is stored under the same chunk
        result = await store.commit_chunk(
            chunk,
            [pull_request(1), pull_request(2)],
            cursor_after="c1",
            has_next_page=True,
            total_prs=20,
        )
        assert result.committed and result.inserted_prs == 2
        assert chunk_row(db, chunk.id)["status"] == "completed"


async def test_recovery_does_not_move_the_cursor_or_the_counters(store: Store, db) -> None:
    lease, _ = await stuck_chunk(store, db, "repo", minutes=31, expected=10, stored=9)
    before = db.execute(
        "SELECT cursor, processed_prs, last_chunk_number, error_count "
        "FROM progressive_backfill_state WHERE id = %s",
        (lease.backfill_state_id,),
    ).fetchone()
    await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    after = db.execute(
        "SELECT cursor, processed_prs, last_chunk_number, error_count "
        "FROM progressive_backfill_state WHERE id = %s",
        (lease.backfill_state_id,),
    ).fetchone()
    assert after == before == {**before, "processed_prs": 9}


async def test_nonsense_arguments_are_refused_by_the_library(store: Store) -> None:
    for bad in ({"stuck_minutes": 0}, {"cleanup_days": -5}, {"stuck_minutes": True}):
        with pytest.raises(ValueError):
            await recover(store, **{"stuck_minutes": 30, "cleanup_days": 30, **bad}, dry_run=True)
