"""The engine end to end through the Supabase transport: real worker processes configured with
only the spec's variables (VITE_SUPABASE_URL, SUPABASE_SERVICE_KEY), the simulator over HTTP,
PostgREST in front of the database - and the invariants of tests/support/harness.py's
`check_invariants` checked in that database.

(The full engine suite is parametrised over the transport elsewhere; this is the proof that
the processes, not only the store, run on Supabase.)
"""

from __future__ import annotations

import random
import time

import pytest

from tests.support.harness import (
    check_invariants,
    cli,
    dead_requests_leave_the_window,
    engine_env,
    pages_fetched_twice,
    simulator,
    start_worker,
    terminate_all,
)

pytestmark = pytest.mark.slow

REPOS = ["acme/tiny:10", "acme/small:120", "acme/mid:350", "acme/large:800"]


def test_three_workers_through_postgrest(cli_env: dict[str, str], database_url: str, tmp_path):
    assert "DATABASE_URL" not in cli_env
    with simulator(REPOS) as sim:
        env = engine_env(cli_env, sim)
        added = cli(env, "add", *(r.split(":")[0] for r in REPOS))
        assert added.returncode == 0, added.stderr
        workers = [
            start_worker(env, "--until-idle", "--id", f"w{i}", log=tmp_path / f"w{i}.log")
            for i in range(3)
        ]
        try:
            for w in workers:
                assert w.wait(timeout=240) == 0, (tmp_path / "w0.log").read_text()
        finally:
            terminate_all(workers)
        stats = sim.stats()
    check_invariants(database_url, stats)
    assert pages_fetched_twice(stats) == {}
    shown = cli(env, "stats", "--json")
    assert shown.returncode == 0 and '"status": "completed"' in shown.stdout


def test_backfill_command_through_postgrest(cli_env: dict[str, str], database_url: str) -> None:
    repos = ["cmd/a:120", "cmd/b:40"]
    with simulator(repos) as sim:
        result = cli(engine_env(cli_env, sim), "backfill", "cmd/a", "cmd/b", "--workers", "2")
        stats = sim.stats()
    assert result.returncode == 0, result.stderr
    check_invariants(database_url, stats)
    assert cli_env["SUPABASE_SERVICE_KEY"] not in result.stdout + result.stderr


def mid_chunk(db, workers: dict[str, object], timeout: float = 60.0) -> list[str]:
    """Workers holding a chunk right now (waited for: a loaded machine starts them slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = {
            row["worker_id"]
            for row in db.execute(
                "SELECT worker_id FROM backfill_chunks WHERE status = 'processing'"
            ).fetchall()
        }
        if busy & set(workers):
            return sorted(busy & set(workers))
        left = db.execute(
            "SELECT count(*) AS n FROM progressive_backfill_state WHERE status <> 'completed'"
        ).fetchone()["n"]
        if not left:
            return []  # all done: nothing left to interrupt
        time.sleep(0.05)
    raise AssertionError("no worker ever held a chunk")


@pytest.mark.reliability
def test_sigkilled_workers_then_recovery_through_postgrest(
    cli_env: dict[str, str], database_url: str, db, full_size: bool
) -> None:
    """Workers killed mid-chunk; `recover` over REST clears what they left; others finish.
    Six kills and ~2,800 PRs under `-m reliability`, three kills and ~1,000 PRs by default."""
    sizes = [40, 400, 900, 1500] if full_size else [40, 300, 700]
    repos = [f"chaos/r{i}:{size}" for i, size in enumerate(sizes)]
    rng = random.Random(8)
    with simulator(repos, seed=3) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        args = ("--concurrency", "2", "--lease-seconds", "30")
        workers = {f"w{i}": start_worker(env, *args, "--id", f"w{i}") for i in range(3)}
        try:
            for kill in range(6 if full_size else 3):
                time.sleep(rng.uniform(0.3, 1.0))
                busy = mid_chunk(db, workers)
                if not busy:
                    break
                victim = rng.choice(busy)
                killed = workers.pop(victim)
                killed.kill()
                killed.wait()
                dead_requests_leave_the_window(db, [killed.pid])
                # What the dead worker held now looks abandoned for an hour (DB clock).
                db.execute(
                    "UPDATE backfill_chunks SET started_at = now() - interval '1 hour' "
                    "WHERE worker_id = %s AND status = 'processing'",
                    (victim,),
                )
                db.execute(
                    "UPDATE progressive_backfill_state SET lease_expires_at = now() "
                    "WHERE leased_by = %s",
                    (victim,),
                )
                workers[f"r{kill}"] = start_worker(env, *args, "--id", f"r{kill}")
            for w in workers.values():
                w.kill()
                w.wait()
            dead_requests_leave_the_window(db, [w.pid for w in workers.values()])
            db.execute(  # the last ones' chunks too; dead, they renew no lease
                "UPDATE backfill_chunks SET started_at = now() - interval '1 hour' "
                "WHERE status = 'processing'"
            )
            db.execute(
                "UPDATE progressive_backfill_state SET lease_expires_at = now() "
                "WHERE leased_by IS NOT NULL"
            )
            abandoned = db.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
            ).fetchone()["n"]
            assert abandoned >= 1  # killed workers were mid-chunk
            recovered = cli(env, "recover", "--stuck-threshold=30", "--json")
            assert recovered.returncode in (0, 1), recovered.stderr
            left = db.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing' "
                "AND started_at < now() - interval '30 minutes'"
            ).fetchone()
            assert left == {"n": 0}
            db.execute(
                "UPDATE progressive_backfill_state SET lease_expires_at = now() "
                "WHERE leased_by IS NOT NULL"
            )
            finishers = [start_worker(env, "--until-idle", "--id", f"final{i}") for i in range(2)]
            for f in finishers:
                assert f.wait(timeout=240) == 0
        finally:
            terminate_all(list(workers.values()))
        stats = sim.stats()
    check_invariants(database_url, stats)
    assert db.execute(
        "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
    ).fetchone() == {"n": 0}
