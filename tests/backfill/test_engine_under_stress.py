"""The engine under a database that keeps dropping its connections, several recoveries at
once, and PR data chosen to break things (the SIGKILL chaos, faults and budget tests live in
tests/backfill and carry the `reliability` marker too). Real worker processes, the simulator over
HTTP, the test Postgres; every test ends on the invariants of `check_invariants`
(tests/support/harness.py)
(tests/support/harness.py `check_invariants`), checked against the simulator."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row, tuple_row

from core.simulator import RepoSpec, SimConfig, Simulator, serve
from tests.support.harness import (
    SimServer,
    check_invariants,
    cli,
    dead_requests_leave_the_window,
    engine_env,
    environ_without_secrets,
    recover_left_processing,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.recovery_cli import Run
from tests.support.recovery_cli import cli as cli_async

pytestmark = pytest.mark.reliability


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return base


def wait_for_no_other_backends(db: psycopg.Connection, timeout: float = 30) -> None:
    """Until this database has no client backend but `db`'s own."""
    deadline = time.monotonic() + timeout
    others = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    while db.cursor(row_factory=tuple_row).execute(others).fetchone() != (0,):
        assert time.monotonic() < deadline, "the killed workers' backends never went away"
        time.sleep(0.05)


def test_database_connections_killed_mid_run(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Every backend of the workers' database is terminated again and again while they work
    (what a Postgres restart does to them): they reconnect, resume from the committed cursor,
    and the end state equals the simulator's."""
    repos = ["dbkill/a:500", "dbkill/b:300", "dbkill/c:200"]
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with simulator(repos, seed=13, extra=("--latency-ms", "20")) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        logs = [tmp_path / f"w{i}.log" for i in range(2)]
        # Short leases: a release that died with its connection frees the backfill in 10 s,
        # not the default minute (the test is about reconnecting, not waiting).
        args = ("--until-idle", "--concurrency", "2", "--lease-seconds", "10")
        workers = [start_worker(env, *args, "--id", f"w{i}", log=logs[i]) for i in range(2)]
        killed = 0
        try:
            with psycopg.connect(database_url, autocommit=True) as admin:
                # The kills start once a worker is connected: on a loaded machine the workers
                # can take longer to start than the six rounds last (then nothing was killed).
                connected = time.monotonic() + 60
                while admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    (dbname,),
                ).fetchone() == (0,):
                    assert time.monotonic() < connected, "no worker ever connected"
                    time.sleep(0.05)
                for _ in range(6):
                    time.sleep(0.5)
                    (n,) = admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (dbname,),
                    ).fetchone()
                    killed += n
            wait_for_workers(workers, timeout=180)
        finally:
            terminate_all(workers)
        stats = sim.stats()
    assert killed > 0
    check_invariants(database_url, stats)
    recover_left_processing(env, database_url)
    check_invariants(database_url, stats)


def test_a_worker_started_while_the_database_ends_every_session(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Every session of the database is ended every few milliseconds while a worker starts
    (a Postgres restart or failover as cron starts it): opening the store tries again instead
    of dying with a traceback, the worker completes the backfill exactly and exits 0. Before,
    a session ended while the schema was checked killed the process (exit 1)."""
    repos = ["restart/a:120"]
    dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with simulator(repos, seed=29, extra=("--latency-ms", "20")) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", "restart/a").returncode == 0
        log = tmp_path / "w.log"
        worker = start_worker(env, "--until-idle", "--lease-seconds", "10", log=log)
        ended = 0
        try:
            with psycopg.connect(database_url, autocommit=True) as admin:
                until = time.monotonic() + 4
                while time.monotonic() < until and worker.poll() is None:
                    (n,) = admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (dbname,),
                    ).fetchone()
                    ended += n
                    time.sleep(0.01)
            wait_for_workers([worker], timeout=120)
        finally:
            terminate_all([worker])
        stats = sim.stats()
    assert ended > 0
    check_invariants(database_url, stats)


def test_concurrent_recoveries_after_sigkill(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """Workers SIGKILLed mid-chunk leave chunks processing; with time moved in the database,
    five `recover` processes at once apply each stuck chunk exactly once, leave none
    processing, keep every cursor; restarted workers then complete every backfill."""
    repos = ["rec/a:400", "rec/b:300", "rec/c:200", "rec/d:250"]
    with simulator(repos, seed=19, extra=("--latency-ms", "150")) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        workers = [start_worker(env, "--concurrency", "2", "--id", f"doomed{i}") for i in range(2)]
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                (n,) = (
                    db.execute(
                        "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
                    )
                    .fetchone()
                    .values()
                )
                done = db.execute(
                    "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'completed'"
                ).fetchone()["n"]
                if n >= 3 and done >= 4:
                    break
                time.sleep(0.05)
            for w in workers:
                w.kill()
                w.wait()
            # A killed worker's backend lives on until it finishes its statement (a commit
            # sent just before the kill still lands); read the stuck chunks once it is gone.
            wait_for_no_other_backends(db)
            cursors = {
                r["id"]: r["cursor"]
                for r in db.execute("SELECT id, cursor FROM progressive_backfill_state").fetchall()
            }
            stuck = {
                r["id"]
                for r in db.execute(
                    "SELECT id FROM backfill_chunks WHERE status = 'processing'"
                ).fetchall()
            }
            assert stuck, "no chunk was caught mid-flight"
            # Time moves in the database: the chunks started 40 minutes ago, leases ended.
            db.execute(
                "UPDATE backfill_chunks SET started_at = now() - interval '40 minutes' "
                "WHERE status = 'processing'"
            )
            db.execute("UPDATE progressive_backfill_state SET lease_expires_at = now()")
            dead_requests_leave_the_window(db, [w.pid for w in workers])

            async def recoveries() -> list[Run]:
                return await asyncio.gather(
                    *(cli_async(env, "recover", "--stuck-threshold=30", "--json") for _ in range(5))
                )

            results = asyncio.run(recoveries())
            assert all(run.code in (0, 1) for run in results), results
            reports = [json.loads(run.out) for run in results]
            applied = [
                c["chunk_id"]
                for report in reports
                for c in report["chunks"]
                if c["outcome"] == "applied"
            ]
            assert sorted(applied) == sorted(str(s) for s in stuck)  # each once, by one of them
            assert db.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
            ).fetchone() == {"n": 0}
            after = {
                r["id"]: r["cursor"]
                for r in db.execute("SELECT id, cursor FROM progressive_backfill_state").fetchall()
            }
            assert after == cursors  # recovery never moves a cursor
        finishers = [start_worker(env, "--until-idle") for _ in range(2)]
        wait_for_workers(finishers, timeout=180)
        stats = sim.stats()
    check_invariants(database_url, stats)


HOSTILE = {
    0: {
        "title": "'; DROP TABLE pull_requests; --",
        "body": "Robert'); DELETE FROM repositories;--",
    },
    1: {
        "title": "日本語のタイトル 🚀 émoji \u200b zero-width",
        "body": "tab\tnewline\n\r\\ back\\slash",
    },
    2: {"title": "$$ dollar $$ quoting $tag$", "body": "x" * 1_000_000},  # a 1 MB body
    3: {"title": "%s %(name)s {0} {{}}", "body": '{"json": "in a body", "n": [1, 2]}'},
    4: {"title": "   ", "body": ""},
    5: {"title": "\U0001f600" * 200, "body": "\u202eright-to-left override \ufeff BOM"},
}


def test_hostile_pull_request_data_round_trips(env: dict[str, str], database_url: str) -> None:
    """SQL-looking strings, unicode, a 1 MB body, format strings, and repositories with odd
    (valid) names: stored byte for byte, the invariants hold."""
    odd = [RepoSpec("a-b_c", ".dotfile", 40), RepoSpec("X9", "name.with-dots_and-dashes", 30)]
    sim = Simulator(SimConfig(repos=odd, seed=23))
    for index, fields in HOSTILE.items():
        sim.override_pull_request("a-b_c/.dotfile", index, **fields)
    with serve(sim) as url:
        server = SimServer(url, None)  # type: ignore[arg-type]
        env = engine_env(env, server)
        added = cli(env, "add", "a-b_c/.dotfile", "X9/name.with-dots_and-dashes")
        assert added.returncode == 0, added.stderr
        result = cli(env, "worker", "--until-idle", timeout=120)
        assert result.returncode == 0, result.stderr
        stats = sim.stats()
    check_invariants(database_url, stats)
    repo = sim.world.by_name["a-b_c/.dotfile"]
    with psycopg.connect(database_url) as db:
        for index, fields in HOSTILE.items():
            number = repo.number(index)
            row = db.execute(
                "SELECT p.title, p.body FROM pull_requests p JOIN repositories r "
                "ON r.id = p.repository_id WHERE r.owner = 'a-b_c' AND r.name = '.dotfile' "
                "AND p.number = %s",
                (number,),
            ).fetchone()
            assert row == (fields["title"], fields["body"]), (index, row and row[0][:80])
        names = db.execute("SELECT owner, name FROM repositories ORDER BY owner").fetchall()
    assert names == [("X9", "name.with-dots_and-dashes"), ("a-b_c", ".dotfile")]
