"""Database blips as a hostile environment makes them: sessions ended at random moments for a
whole run under several workers and the `backfill` command, and a command's own call ended
mid-statement. Exit statuses must agree with the end state in the database (the
invariants of tests/support/harness.py `check_invariants`, against the simulator), and a blip is
one line, never a traceback (tracebacks are for bugs, console/cli.py). Real processes, the
simulator over HTTP, the test Postgres."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.harness import (
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    recover_left_processing,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.held_statement import end_the_held_statement, hold_first_write

pytestmark = pytest.mark.reliability


def test_add_whose_registration_loses_its_connection_says_so_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    """`add` while the database ends the session of its registration: one line saying the
    connection was dropped and to run it again, exit 1, no traceback; nothing registered;
    run again, it adds the repository. Before, the psycopg error's traceback."""
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    with simulator(["blip/a:5"]) as sim:
        env = engine_env(env, sim)
        with psycopg.connect(database_url, autocommit=True) as db:
            hold_first_write(db, "repositories")
        with end_the_held_statement(database_url) as ended:
            dropped = cli(env, "add", "blip/a")
        assert ended, "the registration never reached the database"
        assert dropped.returncode == 1, dropped.stderr
        assert "Traceback" not in dropped.stderr
        errors = [line for line in dropped.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, dropped.stderr
        assert errors[0].startswith("backfill-console: error: the database dropped the connection")
        with psycopg.connect(database_url) as db:
            assert db.execute("SELECT count(*) FROM repositories").fetchone() == (0,)
        again = cli(env, "add", "blip/a")
        assert again.returncode == 0, again.stderr
        with psycopg.connect(database_url) as db:
            assert db.execute("SELECT count(*) FROM progressive_backfill_state").fetchone() == (1,)


def blip_at_random(database_url: str, running: list[subprocess.Popen[str]], seed: int) -> int:
    """End every session of the database at random moments (0.1-0.8 s apart) for eight
    seconds, or until none of `running` runs; how many were ended. Starts once a page is
    committed (the repositories are added: a registration cut short is `add`'s one-line
    error, tested above). Then the blips stop: a database ending every session without end
    leaves nothing to finish a run with, and what matters is the run's end once they stop."""
    rng = random.Random(seed)
    ended = 0
    committed = "SELECT count(*) FROM backfill_chunks WHERE status = 'completed'"
    with psycopg.connect(database_url, autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while admin.execute(committed).fetchone() == (0,):
            assert time.monotonic() < deadline, "no page was ever committed"
            time.sleep(0.02)
        until = time.monotonic() + 8
        while time.monotonic() < until and any(p.poll() is None for p in running):
            time.sleep(rng.uniform(0.1, 0.8))
            (n,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            ended += n
    return ended


def test_sessions_ended_at_random_moments_for_a_whole_run(
    database_url: str, tmp_path: Path, full_size: bool
) -> None:
    """Three workers (one, two and three slots) and every session of their database ended at
    random moments through most of the run: each exits 0 (the work is done: a worker that
    stored nothing may not fail the job for blips others rode out), and the end state equals
    the simulator's."""
    scale = 3 if full_size else 1
    repos = [f"random/a:{200 * scale}", f"random/b:{150 * scale}", f"random/c:{100 * scale}"]
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    with simulator(repos, seed=53, extra=("--latency-ms", "20")) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        args = ("--until-idle", "--lease-seconds", "10")
        workers = [
            start_worker(env, *args, "--concurrency", str(i + 1), log=tmp_path / f"w{i}.log")
            for i in range(3)
        ]
        try:
            ended = blip_at_random(database_url, workers, seed=53)
            wait_for_workers(workers, timeout=120)
        finally:
            terminate_all(workers)
        stats = sim.stats()
    assert ended > 0
    check_invariants(database_url, stats)
    recover_left_processing(env, database_url)


def test_the_backfill_command_under_sessions_ended_at_random_moments(
    database_url: str, tmp_path: Path
) -> None:
    """`backfill-console backfill` (two slots, progress polled every second) while every
    session of its database is ended at random moments: exit 0, no traceback, every backfill
    complete and equal to the simulator's."""
    repos = ["bfcmd/a:200", "bfcmd/b:100"]
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    with simulator(repos, seed=59, extra=("--latency-ms", "20")) as sim:
        env = engine_env(env, sim)
        out = tmp_path / "backfill.out"
        with open(out, "w") as sink:
            command = subprocess.Popen(
                [sys.executable, "-m", "console.cli", "backfill", "--workers", "2"]
                + [r.split(":")[0] for r in repos],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=tmp_path,
            )
        try:
            ended = blip_at_random(database_url, [command], seed=59)
            command.wait(timeout=120)
        finally:
            terminate_all([command])
        stats = sim.stats()
    text = out.read_text()
    assert command.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert ended > 0
    check_invariants(database_url, stats)
