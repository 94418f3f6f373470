"""The failures-in-a-row bound holds across processes: real worker processes take turns on a
backfill whose every page after the first fails (the simulator's `repeat_page`: a page that
ignores its cursor, refused as malformed). Worker A fails five chunks and is stopped; workers
B and C, started afresh, fail the backfill after three more: eight in all, counted in the
database (each process alone used to need eight of its own). Cooldowns are moved past on the
database clock, not waited out."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
import pytest

from core.backfill.worker import MAX_FAILURES_IN_A_ROW
from tests.support.harness import (
    cli,
    engine_env,
    environ_without_secrets,
    log_tail,
    simulator,
    start_worker,
    terminate_all,
)

pytestmark = pytest.mark.slow

FIRST = 5  # failures worker A makes before it is stopped


def move_cooldown_past(db: psycopg.Connection, below: int) -> int:
    """End the backfill's cooldown (as time passing would) while its count is below `below`;
    the count."""
    row = db.execute(
        "UPDATE progressive_backfill_state SET cooldown_until = NULL "
        "WHERE failures_in_a_row < %s OR status <> 'active' RETURNING failures_in_a_row",
        (below,),
    ).fetchone()
    if row is None:
        row = db.execute("SELECT failures_in_a_row FROM progressive_backfill_state").fetchone()
    assert row is not None
    return int(row["failures_in_a_row"])


def failed_chunks(db: psycopg.Connection) -> list[dict]:
    return db.execute(
        "SELECT worker_id, error FROM backfill_chunks WHERE status = 'failed' ORDER BY chunk_number"
    ).fetchall()


def test_workers_taking_turns_fail_the_backfill_at_the_bound(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    with simulator(["o/r:300"], extra=("--faults", "repeat_page@o/r")) as sim:
        env = engine_env(base, sim, MIN_GRAPHQL_POINTS="0")
        assert cli(env, "add", "o/r").returncode == 0
        worker = ("--until-idle", "--sync-every", "0")

        a = start_worker(env, *worker, "--id", "A", log=tmp_path / "a.log")
        try:
            deadline = time.monotonic() + 120
            while move_cooldown_past(db, FIRST) < FIRST:
                assert a.poll() is None, log_tail(a)
                assert time.monotonic() < deadline, log_tail(a)
                time.sleep(0.05)
            a.send_signal(signal.SIGTERM)  # cooling down now: nothing in hand
            a.wait(timeout=60)
        finally:
            terminate_all([a])
        assert [c["worker_id"] for c in failed_chunks(db)] == ["A"] * FIRST

        others = [
            start_worker(env, *worker, "--id", name, log=tmp_path / f"{name}.log")
            for name in ("B", "C")
        ]
        try:
            deadline = time.monotonic() + 120
            while any(p.poll() is None for p in others):
                move_cooldown_past(db, MAX_FAILURES_IN_A_ROW)
                assert time.monotonic() < deadline, [log_tail(p) for p in others]
                time.sleep(0.05)
        finally:
            terminate_all(others)
        for p in others:
            assert "Traceback" not in log_tail(p), log_tail(p)

    row = db.execute("SELECT status, last_error FROM progressive_backfill_state").fetchone()
    assert row is not None and row["status"] == "failed"
    assert row["last_error"].startswith(f"{MAX_FAILURES_IN_A_ROW} chunks failed in a row; last:")
    chunks = failed_chunks(db)
    assert len(chunks) == MAX_FAILURES_IN_A_ROW  # not one more: the bound is shared
    assert {c["worker_id"] for c in chunks[FIRST:]} <= {"B", "C"}
    assert all("repeats" in c["error"] for c in chunks), chunks
