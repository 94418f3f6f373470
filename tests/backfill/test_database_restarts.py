"""Postgres itself restarted, crashed or full while workers start and run: each test has a
private server of its own (the product's embedded Postgres, real `postgres` processes) that it
stops, starts and crashes for real, without disturbing the session's shared test server. Real
worker processes, the simulator over HTTP; every test ends on the invariants of
`check_invariants` (tests/support/harness.py)
(tests/support/harness.py `check_invariants`), checked against the simulator.

A restart as a client sees it: while the server shuts down it ends every session (57P01) and
answers new ones "the database system is shutting down" (57P03); then nothing listens (no
socket: "No such file or directory"); then it takes connections again."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from core.store.postgres import connection_dropped
from tests.support.harness import (
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    pages_fetched_twice,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.private_server import PrivateServer

pytestmark = pytest.mark.reliability


@pytest.fixture
def private() -> Iterator[PrivateServer]:
    # A short path of its own: the socket's path must fit a unix socket address, and a
    # fallback directory would move at each restart (and the URL with it).
    directory = Path(tempfile.mkdtemp(prefix="rtdb-pg-"))
    server = None
    try:
        server = PrivateServer(directory)
        yield server
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(directory, ignore_errors=True)


def private_env(server: PrivateServer, tmp_path: Path) -> dict[str, str]:
    env = environ_without_secrets()
    env.update(DATABASE_URL=server.url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return env


def wait_for_log(log: Path, text: str, worker: object, timeout: float = 60) -> None:
    """Until `text` is in the worker's log, or the worker has exited (the caller's asserts
    then say why)."""
    deadline = time.monotonic() + timeout
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        if worker.poll() is not None:  # type: ignore[attr-defined]
            return
        assert time.monotonic() < deadline, f"no {text!r} in the worker's log"
        time.sleep(0.02)


def waiting_on_github(url: str, timeout: float = 60) -> None:
    """Until the worker has a chunk started 0.3 s ago or more and no statement running: its
    page is on its way from GitHub (a page in hand is committed within milliseconds)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as db:
        while db.execute(
            "SELECT EXISTS (SELECT FROM backfill_chunks WHERE status = 'processing' "
            "  AND started_at < now() - interval '0.3 s') "
            "AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() "
            "  AND pid <> pg_backend_pid() AND state <> 'idle')"
        ).fetchone() != (True,):
            assert time.monotonic() < deadline, "the worker never waited on GitHub"
            time.sleep(0.02)


def test_a_worker_started_while_postgres_restarts_waits_for_it(
    private: PrivateServer, tmp_path: Path
) -> None:
    """cron starts a worker while Postgres restarts: it is told "shutting down", then finds
    no server at all for a while, then the server is back. It waits for the server and
    completes the backfill exactly, exit 0. Before, the first "no server" after the shutdown
    ended it at once (exit 1): only sessions ended were tried again, not the restart's down
    time that follows them."""
    with simulator(["restart/a:80"], seed=31) as sim:
        env = engine_env(private_env(private, tmp_path), sim)
        assert cli(env, "add", "restart/a").returncode == 0
        log = tmp_path / "w.log"
        worker = None
        try:
            with private.shutting_down():
                worker = start_worker(env, "--until-idle", "--lease-seconds", "10", log=log)
                wait_for_log(log, "the database system is shutting down", worker)
            # Stopped: the worker's next try finds no socket.
            wait_for_log(log, "No such file or directory", worker)
            private.start()
            wait_for_workers([worker], timeout=90)
        finally:
            if worker is not None:
                terminate_all([worker])
        stats = sim.stats()
    check_invariants(private.url, stats)


def test_a_worker_started_on_a_full_server_waits_for_a_connection_slot(
    private: PrivateServer, tmp_path: Path
) -> None:
    """Every connection slot of the server is taken (max_connections) when a worker starts:
    "sorry, too many clients already" is a state that passes, like a restart. The worker
    waits for a slot, completes the backfill exactly, exit 0. Before, it was taken for a
    refused setting and the worker exited 1 at once."""
    with psycopg.connect(private.admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET max_connections = 8")
        conn.execute("ALTER SYSTEM SET superuser_reserved_connections = 0")
    private.stop()
    private.start()
    with simulator(["full/a:80"], seed=37) as sim:
        env = engine_env(private_env(private, tmp_path), sim)
        assert cli(env, "add", "full/a").returncode == 0
        held: list[psycopg.Connection] = []
        worker = None
        try:
            while True:  # take every slot
                try:
                    held.append(psycopg.connect(private.admin_url, autocommit=True))
                except psycopg.OperationalError as exc:
                    assert "too many clients" in str(exc), exc
                    break
            log = tmp_path / "w.log"
            worker = start_worker(env, "--until-idle", log=log)
            wait_for_log(log, "too many clients", worker)
            for conn in held:
                conn.close()
            held.clear()
            wait_for_workers([worker], timeout=90)
        finally:
            for conn in held:
                conn.close()
            if worker is not None:
                terminate_all([worker])
        stats = sim.stats()
    check_invariants(private.url, stats)


def test_what_a_crashed_backend_leaves_every_new_session_is_tried_again(
    private: PrivateServer,
) -> None:
    """A backend killed (the OOM killer, a segfault) makes the server end every session and
    answer "the database system is in recovery mode" until it has recovered: a state that
    passes, so opening the store must try again, not fail at once. The error is the real
    server's (libpq gives a connection attempt's error no SQLSTATE: only its words)."""
    victim = psycopg.connect(private.admin_url)
    os.kill(victim.info.backend_pid, signal.SIGKILL)
    seen: list[psycopg.OperationalError] = []
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        try:
            psycopg.connect(private.admin_url, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            if "recovery mode" in str(exc):
                seen.append(exc)
    with suppress(psycopg.Error):
        victim.close()
    if not seen:
        pytest.skip("the server recovered before a connection attempt saw it recovering")
    assert connection_dropped(seen[0]), seen[0]


def test_workers_run_through_postgres_restarts(
    private: PrivateServer, tmp_path: Path, full_size: bool
) -> None:
    """Postgres is restarted (fast shutdown, a second down, started again) several times
    under two workers of two slots each: they reconnect, resume from the committed cursors,
    exit 0, and the end state equals the simulator's."""
    repos = ["restarts/a:300", "restarts/b:200", "restarts/c:100"]
    rounds = 4 if full_size else 2
    with simulator(repos, seed=41, extra=("--latency-ms", "30")) as sim:
        env = engine_env(private_env(private, tmp_path), sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        logs = [tmp_path / f"w{i}.log" for i in range(2)]
        args = ("--until-idle", "--concurrency", "2", "--lease-seconds", "10")
        workers = [start_worker(env, *args, "--id", f"w{i}", log=logs[i]) for i in range(2)]
        try:
            for log, worker in zip(logs, workers, strict=True):
                wait_for_log(log, "stored", worker)  # working: a page committed
            for _ in range(rounds):
                private.stop()
                time.sleep(1.0)  # the restart's down time, as the workers live it
                private.start()
                time.sleep(1.5)
            wait_for_workers(workers, timeout=150)
        finally:
            terminate_all(workers)
        stats = sim.stats()
    check_invariants(private.url, stats)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"password": "hunter2-wrong-password", "passfile": "/nonexistent"}, "password"),
        ({"dbname": "no_such_database"}, "does not exist"),
        ({"port": "1"}, "No such file or directory"),  # nothing listens there
    ],
    ids=["wrong-password", "missing-database", "wrong-port"],
)
def test_a_refused_connection_still_fails_at_once_in_one_line(
    private: PrivateServer, tmp_path: Path, change: dict[str, str], reason: str
) -> None:
    """What trying again cannot change ends the worker at once: one line naming the setting
    and the reason, no retry, no traceback, no password. Nothing listening counts as a
    restart's down time only once the server was seen restarting."""
    env = private_env(private, tmp_path)
    env.update(GITHUB_TOKEN="t", DATABASE_URL=make_conninfo(private.url, **change))
    done = cli(env, "worker", "--until-idle")
    assert done.returncode == 1, done.stderr
    assert "trying again" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "GITHUB_TOKEN is sent" not in line]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("backfill-console: error: cannot connect to the database given by")
    assert reason in lines[0]
    assert "hunter2" not in done.stderr + done.stdout


def test_a_restart_while_a_page_is_on_its_way_loses_no_page(
    private: PrivateServer, tmp_path: Path
) -> None:
    """Postgres restarts while the worker waits on GitHub for a page (answers of 1 s): the
    pool's connections die idle. When the page is in, every call after it gets a live
    connection: the page is stored (none fetched twice, no chunk failed or left
    `processing`), its server time settled, its budget published. Before, the first calls
    after the restart were handed the dead connections and failed (here the settlement and
    the budget's; a commit handed one lost the page GitHub had been paid for)."""
    with simulator(["inflight/a:80"], seed=43, extra=("--latency-ms", "1000")) as sim:
        env = engine_env(private_env(private, tmp_path), sim)
        assert cli(env, "add", "inflight/a").returncode == 0
        log = tmp_path / "w.log"
        worker = start_worker(env, "--until-idle", "--lease-seconds", "30", log=log)
        try:
            wait_for_log(log, "chunk 1 stored", worker)
            waiting_on_github(private.url)
            private.stop()
            time.sleep(0.2)  # the restart's down time
            private.start()
            wait_for_workers([worker], timeout=90)
        finally:
            terminate_all([worker])
        stats = sim.stats()
    check_invariants(private.url, stats)
    assert pages_fetched_twice(stats) == {}
    with psycopg.connect(private.url) as db:
        statuses = db.execute("SELECT status, count(*) FROM backfill_chunks GROUP BY status")
        assert dict(statuses.fetchall()).keys() == {"completed"}
    text = log.read_text()
    assert "settling failed" not in text and "on_rate_limit failed" not in text, text
