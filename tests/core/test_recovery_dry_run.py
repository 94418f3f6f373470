"""The dry run is the live run minus its writes: nothing changes, and the live run then does
exactly what it listed."""

from __future__ import annotations

from core.recovery import RecoveryReport, recover
from core.store import Store
from tests.support.recovery_rows import dump, stuck_chunk


async def arrange(store: Store, db) -> None:
    """Stuck chunks of every kind (their workers died, their leases ran out), a live one,
    and old completed chunks."""
    await stuck_chunk(store, db, "mostly", minutes=45, expected=10, stored=9)
    await stuck_chunk(store, db, "partly", minutes=90, expected=10, stored=5)
    await stuck_chunk(store, db, "nothing", minutes=31, expected=None)
    await stuck_chunk(store, db, "fresh", minutes=5, expected=10, stored=10, alive=True)
    # octo/mostly's worker died first.
    db.execute(
        "UPDATE progressive_backfill_state s SET lease_expires_at = now() - interval '1 minute' "
        "FROM repositories r WHERE r.id = s.repository_id AND r.name = 'mostly'"
    )
    # The completed helper chunks of octo/partly finished 40 days ago.
    db.execute(
        "UPDATE backfill_chunks c SET started_at = now() - interval '40 days', "
        "completed_at = now() - interval '40 days' FROM progressive_backfill_state s, "
        "repositories r WHERE c.backfill_state_id = s.id AND r.id = s.repository_id "
        "AND r.name = 'partly' AND c.status = 'completed'"
    )


def plan_of(report: RecoveryReport) -> list[tuple[object, ...]]:
    return [
        (c.chunk_id, c.repository, c.chunk_number, c.stored, c.expected, c.decision, c.reason)
        for c in report.chunks
    ]


async def test_dry_run_writes_nothing_and_lists_what_the_live_run_does(store: Store, db) -> None:
    await arrange(store, db)
    before = dump(db)

    dry = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=True)

    assert dump(db) == before  # every row of every table, xmin included
    assert dry.dry_run and {c.outcome for c in dry.chunks} == {"planned"}
    assert {(c.repository, c.decision, c.reason) for c in dry.chunks} == {
        ("octo/mostly", "completed", "recovered 9/10"),
        ("octo/partly", "failed", "partial 5/10"),
        ("octo/nothing", "failed", "no PR data"),
    }
    assert [(lease.repository, lease.outcome) for lease in dry.leases] == [
        ("octo/mostly", "planned"),
        ("octo/partly", "planned"),
        ("octo/nothing", "planned"),
    ]
    assert (dry.cleanup.eligible, dry.cleanup.deleted) == (1, 0)
    assert [(b.repository, b.chunks) for b in dry.cleanup.per_backfill] == [("octo/partly", 1)]

    live = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)

    assert plan_of(live) == plan_of(dry)
    assert {c.outcome for c in live.chunks} == {"applied"}
    assert [(lease.backfill_state_id, lease.outcome) for lease in live.leases] == [
        (lease.backfill_state_id, "applied") for lease in dry.leases
    ]
    assert live.cleanup.deleted == dry.cleanup.eligible
    for c in dry.chunks:
        row = db.execute(
            "SELECT status, error FROM backfill_chunks WHERE id = %s", (c.chunk_id,)
        ).fetchone()
        assert row["status"] == c.decision
        assert row["error"] == (c.reason if c.decision == "failed" else None)

    again = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=True)
    assert (again.chunks, again.leases, again.cleanup.eligible) == ([], [], 0)
