"""Recovery racing its workers and itself: a chunk finished meanwhile is never overwritten,
and two recoveries at once change each chunk exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import psycopg

from core.recovery import recover
from core.store import Store, postgres_store
from tests.support.recovery_rows import chunk_row, stuck_chunk
from tests.support.store_rows import pull_request

RECOVERY_LOCK = 8243104023350440569  # the advisory lock live recoveries take


async def test_chunk_its_worker_is_completing_is_left_to_the_worker(
    store: Store, db, database_url
) -> None:
    """The worker's commit holds the chunk row while its lease runs out and recovery plans and
    applies: recovery neither waits nor writes; the worker's commit stands."""
    lease, chunk = await stuck_chunk(store, db, "slow", minutes=31, expected=2, alive=True)
    page = json.dumps([pull_request(1), pull_request(2)])
    with psycopg.connect(database_url) as worker:  # one open transaction
        # Time moved in the database: the lease ends a millisecond after the worker's
        # transaction began, so its commit sees it live and recovery sees it expired.
        began = worker.execute("SELECT now()").fetchone()[0]
        db.execute(
            "UPDATE progressive_backfill_state SET lease_expires_at = %s + interval '1 ms' "
            "WHERE id = %s",
            (began, lease.backfill_state_id),
        )
        result = worker.execute(
            "SELECT commit_chunk(%s, %s, %s::jsonb, 'after', true, 12)",
            (chunk.id, lease.claim_token, page),
        ).fetchone()[0]
        assert result["committed"]

        started = time.monotonic()
        report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
        assert time.monotonic() - started < 5  # skipped the locked row, did not wait on it
        assert [(c.chunk_id, c.decision, c.outcome) for c in report.chunks] == [
            (chunk.id, "failed", "busy")  # planned from the committed state, not applied
        ]
        assert not report.ok  # the CLI exits 1: a chunk could not be processed
        worker.commit()

    row = chunk_row(db, chunk.id)
    assert (row["status"], row["recovered"], row["inserted_prs"], row["error"]) == (
        "completed",
        False,
        2,
        None,
    )
    report = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    assert report.chunks == [] and report.ok


async def test_a_chunk_planned_as_stuck_can_no_longer_be_completed_by_its_worker(
    store: Store, db, database_url
) -> None:
    """A dry run lists the chunk (its lease ran out); its late worker's commit is refused, so
    the live run, waiting its turn meanwhile, applies exactly what the dry run showed."""
    _, chunk = await stuck_chunk(store, db, "late", minutes=31, expected=1)
    dry = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=True)
    assert [c.chunk_id for c in dry.chunks] == [chunk.id]

    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RECOVERY_LOCK,))
        live = asyncio.create_task(recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False))
        await wait_for_lock_waiters(db, 1)
        assert not live.done()
        result = await store.commit_chunk(
            chunk, [pull_request(1)], cursor_after="x", has_next_page=True, total_prs=11
        )
        assert (result.committed, result.reason) == (False, "lease lost")
        other.execute("SELECT pg_advisory_unlock(%s)", (RECOVERY_LOCK,))
        report = await live

    assert [(c.chunk_id, c.decision, c.outcome) for c in report.chunks] == [
        (chunk.id, "failed", "applied")
    ]
    row = chunk_row(db, chunk.id)
    assert (row["status"], row["recovered"], row["error"]) == ("failed", False, "partial 0/1")


async def wait_for_lock_waiters(db, n: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        waiting = db.execute(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()["n"]
        if waiting >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} recoveries never queued on the advisory lock")


async def test_two_recovery_processes_at_once_change_each_chunk_exactly_once(
    store: Store, db, database_url, cli_env
) -> None:
    ids = set()
    for i in range(40):
        _, chunk = await stuck_chunk(
            store, db, f"r{i}", minutes=31 + i, expected=5, stored=5 if i % 2 else 2
        )
        ids.add(chunk.id)
    # Hold the recoveries' lock so both processes are started and waiting before either
    # begins; then let them go at once.
    with psycopg.connect(database_url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (RECOVERY_LOCK,))
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "console.cli",
                "recover",
                "--json",
                env=cli_env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        await wait_for_lock_waiters(db, 2)
        gate.execute("SELECT pg_advisory_unlock(%s)", (RECOVERY_LOCK,))
        outputs = await asyncio.wait_for(
            asyncio.gather(*(p.communicate() for p in procs)), timeout=120
        )

    reports = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        reports.append(json.loads(out))
    applied = [[c["chunk_id"] for c in r["chunks"] if c["outcome"] == "applied"] for r in reports]
    assert sorted(map(len, applied)) == [0, 40]  # one did the work, the other found none
    assert {str(i) for i in ids} == set(applied[0]) | set(applied[1])
    rows = db.execute(
        "SELECT status, count(*) AS n FROM backfill_chunks WHERE id = ANY(%s) GROUP BY status",
        (list(ids),),
    ).fetchall()
    assert {r["status"]: r["n"] for r in rows} == {"completed": 20, "failed": 20}


async def test_concurrent_recoveries_in_one_process_agree(store: Store, db, database_url) -> None:
    """Ten recoveries over separate connections, unsynchronised: every chunk applied once."""
    for i in range(30):
        await stuck_chunk(store, db, f"c{i}", minutes=40, expected=4, stored=i % 5)
    sessions = [await postgres_store(database_url, max_size=1) for _ in range(10)]
    try:
        reports = await asyncio.gather(
            *(recover(s, stuck_minutes=30, cleanup_days=30, dry_run=False) for s in sessions)
        )
    finally:
        for s in sessions:
            await s.close()
    applied = [c.chunk_id for r in reports for c in r.chunks if c.outcome == "applied"]
    assert len(applied) == len(set(applied)) == 30
    assert all(r.ok for r in reports)
    left = db.execute(
        "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
    ).fetchone()
    assert left["n"] == 0
