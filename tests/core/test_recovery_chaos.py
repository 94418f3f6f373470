"""Workers SIGKILLed mid-chunk: recovery leaves no chunk processing, released backfills
resume from their committed cursor, and restarted workers complete every backfill.

Real processes throughout: the simulator over HTTP, `backfill-console worker`, `recover`.
Time is moved in the database (chunk starts and dead leases), never slept away.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from core.simulator.process import simulator_process
from tests.support.harness import dead_requests_leave_the_window
from tests.support.row_counts import kept_counts, real_counts

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

REPOS = {"chaos/a": 300, "chaos/b": 450, "chaos/c": 600, "chaos/d": 150}
TOKEN = "simulator-only"


@pytest.fixture
def sim() -> Iterator[str]:
    if importlib.util.find_spec("console.commands.worker") is None:
        pytest.skip("needs `backfill-console worker` (console/commands/worker.py)")
    specs = [f"{repo}:{size}" for repo, size in REPOS.items()]
    # Pages take a while (150 ms): workers are killed mid-chunk.
    with simulator_process(specs, "--seed", "11", "--latency-ms", "150") as (url, _):
        yield url


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )


def worker(
    env: dict[str, str], name: str, *extra: str, log: Path | None = None
) -> subprocess.Popen[str]:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "worker", "--id", name, *extra],
        env=env,
        stdout=out,
        stderr=out,
        text=True,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )


def scalar(db: psycopg.Connection, query: str) -> Any:
    return next(iter(db.execute(query).fetchone().values()))


def kill_mid_chunk(db: psycopg.Connection, env: dict[str, str], round_: int) -> int:
    """Start three workers, wait until they have committed some pages and hold chunks in
    flight, then SIGKILL them all. Returns how many chunks were left processing."""
    procs = [
        worker(env, f"r{round_}w{i}", "--concurrency", "2", "--lease-seconds", "30")
        for i in range(3)
    ]
    committed_before = scalar(db, "SELECT count(*) FROM backfill_chunks WHERE status = 'completed'")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            committed = scalar(
                db, "SELECT count(*) FROM backfill_chunks WHERE status = 'completed'"
            )
            in_flight = scalar(
                db, "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
            )
            if committed >= committed_before + 3 and in_flight >= 2:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("workers never had chunks in flight")
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=10)
    # Their leases end now, on the database clock, so the next round need not wait them out.
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second' "
        "WHERE leased_by LIKE %s",
        (f"r{round_}w%",),
    )
    dead_requests_leave_the_window(db, [p.pid for p in procs])
    return scalar(db, "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'")


def test_killed_workers_then_recovery_then_completion(
    sim: str, database_url: str, cli_env: dict[str, str], full_size: bool
) -> None:
    """Three rounds of kills under `-m reliability`, two in the default run."""
    env = {**cli_env, "GITHUB_TOKEN": TOKEN, "GITHUB_GRAPHQL_URL": f"{sim}/graphql"}
    added = run(env, "add", *REPOS)
    assert added.returncode == 0, added.stderr

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        rounds = 3 if full_size else 2
        left_processing = [kill_mid_chunk(db, env, round_) for round_ in range(rounds)]
        # Each round was stopped with chunks in flight; a few may have committed between
        # the check and the kill, but not all of them in every round.
        assert sum(left_processing) >= 1, left_processing
        stuck = scalar(db, "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'")
        assert stuck >= 1
        # The dead workers' chunks age past the threshold and their leases run out, on the
        # database clock.
        db.execute(
            "UPDATE backfill_chunks SET started_at = started_at - interval '31 minutes' "
            "WHERE status = 'processing'"
        )
        db.execute(
            "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second'"
            " WHERE leased_by IS NOT NULL"
        )
        cursors = {
            r["id"]: r["cursor"]
            for r in db.execute("SELECT id, cursor FROM progressive_backfill_state").fetchall()
        }

        recovered = run(env, "recover", "--json")
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        report = json.loads(recovered.stdout)
        assert report["totals"]["stuck"] == stuck == report["totals"]["applied"]
        assert scalar(db, "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'") == 0
        assert (
            scalar(
                db, "SELECT count(*) FROM progressive_backfill_state WHERE leased_by IS NOT NULL"
            )
            == 0
        )
        # Released backfills resume from their committed cursor: recovery moved none.
        assert {
            r["id"]: r["cursor"]
            for r in db.execute("SELECT id, cursor FROM progressive_backfill_state").fetchall()
        } == cursors

        logs = [Path(env["BACKFILL_DATA_DIR"]).parent / f"final{i}.log" for i in range(2)]
        finishers = [
            worker(env, f"final{i}", "--until-idle", log=log) for i, log in enumerate(logs)
        ]
        for p, log in zip(finishers, logs, strict=True):
            assert p.wait(timeout=300) == 0, log.read_text()[-3000:]

        rows = db.execute(
            """
            SELECT r.owner || '/' || r.name AS repo, s.status, s.processed_prs, s.total_prs,
                   (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id) AS stored,
                   (SELECT array_agg(chunk_number ORDER BY chunk_number) FROM backfill_chunks c
                     WHERE c.backfill_state_id = s.id) AS numbers
              FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
            """
        ).fetchall()
        assert scalar(db, "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'") == 0
        # The kept row counts stayed exact through racing workers, SIGKILLs and recovery.
        assert kept_counts(db) == real_counts(db)
    assert {r["repo"]: r["status"] for r in rows} == dict.fromkeys(REPOS, "completed")
    for r in rows:
        assert r["processed_prs"] == r["stored"] == r["total_prs"] == REPOS[r["repo"]], r
        assert r["numbers"] == list(range(1, len(r["numbers"]) + 1)), r
