"""Real processes for end-to-end tests: the simulator as a server, workers as CLI processes,
and the store's invariants (`check_invariants`) checked against the simulator's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row

from core.simulator.ids import decode_cursor
from core.simulator.process import simulator_process

TOKEN = "simulator-only-token"  # the simulator accepts any non-empty token


@dataclass
class SimServer:
    url: str
    process: subprocess.Popen[str]

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_sim/stats", timeout=10) as response:
            return json.loads(response.read())


@contextmanager
def simulator(
    repos: Sequence[str], *, seed: int = 7, extra: Sequence[str] = ()
) -> Iterator[SimServer]:
    with simulator_process(repos, "--seed", str(seed), *extra) as (url, process):
        yield SimServer(url, process)


def github_profile(time_scale: float) -> tuple[str, ...]:
    """`simulate` options for GitHub's server-time behaviour, `time_scale` times faster."""
    return ("--profile", "github", "--time-scale", f"{time_scale:g}")


def paced_env(time_scale: float) -> dict[str, str]:
    """The client's pacing settings on the same time scale as `github_profile`."""
    return {"GITHUB_SERVER_TIME_WINDOW": f"{60 / time_scale:g}"}


def engine_env(base: dict[str, str], sim: SimServer, **extra: str) -> dict[str, str]:
    env = dict(base)
    env.update({"GITHUB_TOKEN": TOKEN, "GITHUB_GRAPHQL_URL": sim.graphql_url, **extra})
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )


def start_worker(
    env: dict[str, str], *args: str, log: Path | None = None, nice: int = 0
) -> subprocess.Popen[str]:
    """A `worker` process; `nice` lowers its CPU priority (see test_pacing)."""
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "worker", *args],
        env=env,
        stdout=out,
        stderr=out,
        text=True,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )
    if log:
        _LOGS[proc.pid] = log
    return proc


_LOGS: dict[int, Path] = {}  # worker pid -> its log, for the failure message


def log_tail(proc: subprocess.Popen[str], chars: int = 3000) -> str:
    """The end of a worker's log (what a failed assertion shows), or "" without one."""
    log = _LOGS.get(proc.pid)
    return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""


def pr_position(cursor: str | None) -> int:
    """Where a pagination cursor points in its repository's PR order (-1: the start)."""
    if cursor in (None, "None", "start"):
        return -1
    decoded = decode_cursor(cursor, "pr.CREATED_AT")
    assert decoded is not None, cursor
    return decoded[1]


def check_invariants(database_url: str, stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The store's invariants, against the simulator's own counts. Returns per-repo rows."""
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        repos = db.execute(
            """
            SELECT r.owner || '/' || r.name AS repo, s.id, s.status, s.processed_prs,
                   s.total_prs,
                   (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id) AS stored,
                   (SELECT count(*) FROM reviews v JOIN pull_requests p ON p.id = v.pull_request_id
                     WHERE p.repository_id = r.id) AS reviews,
                   (SELECT count(*) FROM comments c JOIN pull_requests p ON p.id = c.pull_request_id
                     WHERE p.repository_id = r.id) AS comments,
                   (SELECT count(*) FROM review_threads t
                      JOIN pull_requests p ON p.id = t.pull_request_id
                     WHERE p.repository_id = r.id) AS review_threads,
                   (SELECT count(*) FROM review_comments rc
                      JOIN pull_requests p ON p.id = rc.pull_request_id
                     WHERE p.repository_id = r.id) AS review_comments,
                   (SELECT array_agg(chunk_number ORDER BY chunk_number) FROM backfill_chunks c
                     WHERE c.backfill_state_id = s.id) AS chunk_numbers
              FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id
            """
        ).fetchall()
        duplicates = db.execute(
            "SELECT (SELECT count(*) FROM pull_requests) - "
            "(SELECT count(DISTINCT (repository_id, number)) FROM pull_requests) AS n"
        ).fetchone()
    assert duplicates == {"n": 0}
    by_repo = {}
    for row in repos:
        name = row["repo"]
        assert row["status"] == "completed", row
        assert row["processed_prs"] == row["stored"] == stats["prs"][name], row
        assert (row["total_prs"] or 0) == stats["prs"][name], row
        assert row["reviews"] == stats["reviews"][name], (name, row["reviews"])
        assert row["comments"] == stats["comments"][name], (name, row["comments"])
        for kind in ("review_threads", "review_comments"):
            assert row[kind] == stats[kind][name], (name, kind, row[kind])
        numbers = row["chunk_numbers"] or []
        assert numbers == list(range(1, len(numbers) + 1)), (name, numbers)
        by_repo[name] = row
    assert set(by_repo) == set(stats["prs"])
    return by_repo


def pages_fetched_twice(stats: dict[str, Any]) -> dict[str, list[str]]:
    """(repo -> cursors) that the simulator served more than once."""
    twice: dict[str, list[str]] = {}
    for repo, pages in stats["pages"].items():
        again = [key.split("|", 1)[0] for key, count in pages.items() if count > 1]
        if again:
            twice[repo] = again
    return twice


def wait_for_workers(procs: Sequence[subprocess.Popen[str]], timeout: float) -> None:
    """Every process exits 0 within `timeout` in all; none is left running, whatever happens."""
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            try:
                p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # What every worker last said: a hang shows where each one stopped.
                tails = "\n".join(f"--- pid {q.pid}:\n{log_tail(q)}" for q in procs)
                raise AssertionError(f"a worker still runs after {timeout} s:\n{tails}") from None
            assert p.returncode == 0, f"worker exited {p.returncode}:\n{log_tail(p)}"
    finally:
        terminate_all(procs)


def terminate_all(procs: Sequence[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait(timeout=10)


def dead_requests_leave_the_window(db: psycopg.Connection, pids: Iterable[int]) -> None:
    """What a minute does, on the database clock, to the requests SIGKILLed workers had in
    flight: their reservations in the token's server-time ledger leave the pacing window.

    A killed process never settles its reservations (migration 20250180000000): each counts up
    to GitHub's kill time (10 s) until it leaves the window a minute after it started, so a
    few kills fill the 54 s budget and the next workers wait out the minute (measured: ~55 s
    of a chaos test's 75). As with their leases, the test moves time instead of waiting.
    `pids` are the killed processes' (a ledger process is `host-PID-random`).
    """
    for pid in pids:
        db.execute(
            "UPDATE github_server_time SET started_at = started_at - interval '1 minute' "
            "WHERE NOT settled AND process ~ %s",
            (f"-{pid}-[0-9a-f]+$",),
        )


def holding_mid_work(
    db: psycopg.Connection[Any], worker_ids: Iterable[str], timeout: float = 120
) -> list[str]:
    """The workers of `worker_ids` caught mid-work, waited for: each holds a backfill's lease
    and a chunk of it `processing`, the backfill has PRs stored and more than a full page
    (100 PRs) still to fetch, so a SIGKILL sent at once lands before the worker can finish it
    (it must fetch and store at least one more page first).

    A kill after a fixed sleep lands wherever the workers happen to be: on a loaded machine
    they start late, on a quiet one they finish early, and the kill proves nothing. Raises
    AssertionError when no worker is caught within `timeout` (the backfills are too small for
    the kills asked of them, or none ever started)."""
    ids = sorted(set(worker_ids))
    deadline = time.monotonic() + timeout
    with db.cursor(row_factory=tuple_row) as cur:
        while time.monotonic() < deadline:
            busy = cur.execute(
                "SELECT DISTINCT s.leased_by FROM progressive_backfill_state s "
                "JOIN backfill_chunks c ON c.backfill_state_id = s.id "
                "AND c.status = 'processing' AND c.worker_id = s.leased_by "
                "WHERE s.leased_by = ANY(%s) AND s.status <> 'completed' "
                "AND s.processed_prs > 0 AND s.total_prs - s.processed_prs > 100 "
                "ORDER BY 1",
                (ids,),
            ).fetchall()
            if busy:
                return [row[0] for row in busy]
            time.sleep(0.02)
    raise AssertionError(f"none of {ids} was caught mid-backfill in {timeout} s")


def environ_without_secrets() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "VITE_", "GITHUB"))
    }


def assert_nothing_processing_or_held(database_url: str) -> None:
    """A worker's clean end: no chunk left `processing`, no backfill still leased."""
    with psycopg.connect(database_url) as db:
        processing = db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone()
        held = db.execute(
            "SELECT count(*) FROM progressive_backfill_state WHERE leased_by IS NOT NULL"
        ).fetchone()
    assert processing == (0,) and held == (0,), (processing, held)


def recover_left_processing(env: dict[str, str], database_url: str) -> None:
    """A chunk whose commit and failure record both died with their connections stays
    `processing` (its page was fetched again by the next chunk): recovery, with time moved in
    the database, settles every one of them."""
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute(
            "UPDATE backfill_chunks SET started_at = now() - interval '40 minutes' "
            "WHERE status = 'processing'"
        )
        recovered = cli(env, "recover", "--stuck-threshold=30")
        assert recovered.returncode == 0, recovered.stderr
        assert db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone() == (0,)
