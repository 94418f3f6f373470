"""get_next_chunk_number: atomic, contiguous from 1, never repeated, per backfill."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest

CALLER = Path(__file__).parent.parent / "support" / "chunk_caller.py"


def make_backfill(conn: psycopg.Connection, name: str) -> str:
    row = conn.execute("SELECT backfill_state_id FROM register_backfill('octo', %s, 10)", (name,))
    return str(row.fetchone()["backfill_state_id"])


def race(url: str, state_ids: list[str], processes: int, calls: int) -> dict[str, list[int]]:
    """Start every process, wait until all are connected, then release them at once."""
    procs = []
    for i in range(processes):
        state_id = state_ids[i % len(state_ids)]
        p = subprocess.Popen(
            [sys.executable, str(CALLER), url, state_id, str(calls)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append((state_id, p))
    for _, p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for _, p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results: dict[str, list[int]] = {s: [] for s in state_ids}
    for state_id, p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        results[state_id] += [int(line) for line in out.split()]
    return results


def test_eight_processes_get_each_number_exactly_once(database_url: str, db) -> None:
    state_id = make_backfill(db, "one")
    numbers = race(database_url, [state_id], processes=8, calls=250)[state_id]
    assert len(numbers) == 2000
    assert Counter(numbers).most_common(1)[0][1] == 1  # never repeated
    assert sorted(numbers) == list(range(1, 2001))  # contiguous from 1


def test_interleaved_backfills_have_independent_sequences(database_url: str, db) -> None:
    a, b = make_backfill(db, "a"), make_backfill(db, "b")
    results = race(database_url, [a, b], processes=4, calls=100)
    assert sorted(results[a]) == list(range(1, 201))
    assert sorted(results[b]) == list(range(1, 201))


def test_unknown_backfill_is_an_error(db) -> None:
    with pytest.raises(psycopg.errors.NoDataFound):
        db.execute("SELECT get_next_chunk_number('00000000-0000-0000-0000-000000000000')")


def test_rolled_back_number_is_given_back(db) -> None:
    """Numbers stay dense: a caller that rolls back does not leave a gap."""
    state_id = make_backfill(db, "dense")
    with pytest.raises(psycopg.errors.DivisionByZero), db.transaction():
        db.execute("SELECT get_next_chunk_number(%s)", (state_id,))
        db.execute("SELECT 1/0")
    row = db.execute("SELECT get_next_chunk_number(%s) AS n", (state_id,)).fetchone()
    assert row["n"] == 1
