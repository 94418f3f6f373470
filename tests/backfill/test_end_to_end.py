"""Real worker processes, a real simulator over HTTP, the embedded Postgres: the invariants of
tests/support/harness.py's `check_invariants` hold.

Time is never slept away: leases of killed workers are expired in the database.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.comment_bodies import stored_bodies
from tests.support.harness import (
    check_invariants,
    cli,
    dead_requests_leave_the_window,
    engine_env,
    environ_without_secrets,
    pages_fetched_twice,
    pr_position,
    simulator,
    start_worker,
    terminate_all,
    wait_for_workers,
)
from tests.support.sync_state import differences, get

pytestmark = pytest.mark.slow

TWENTY_REPOS = [
    f"acme/repo{i:02d}:{size}"
    for i, size in enumerate(
        # ~1,100 PRs, most backfills more than one page (24 PRs). Every process takes part
        # whatever the size: no claim is granted before all six are up (the test holds the
        # claims back). The size was 15,000, then 6,000, then 3,000 so that late starters
        # still found work; this test runs `alone`, so its time counts twice.
        [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 90, 100, 110, 120]
    )
]


# A backfill test's workers end when the backfills do: no probes, syncs or comment upkeep
# once idle (`--sync-every 0`). Those are not these tests' subject (tests/backfill/
# test_probe_rounds.py, test_sync_*, test_comment_catch_up.py are theirs), and each is paced
# by the token's server time: under load their pass after the work added minutes of tail.
IDLE_ENDS = ("--sync-every", "0")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return base


@pytest.mark.alone  # six worker processes and a simulator take every core
def test_six_workers_twenty_repositories(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    with simulator(TWENTY_REPOS) as sim:
        env = engine_env(env, sim)
        added = cli(env, "add", *(r.split(":")[0] for r in TWENTY_REPOS))
        assert added.returncode == 0, added.stderr
        ids = [f"w{i}" for i in range(6)]
        # Claims held back until each of the six is waiting to claim: a lock on the backfills
        # that claims wait for and reads do not. Then each process takes a backfill at once
        # (twenty for six slots), however late it started; without it, the first ones up
        # could finish the work before the last one's interpreter had loaded. One slot each:
        # every answer's time counts against the token's server time (core/github/pacing.py)
        # and the simulator answers one request at a time, so twelve slots in flight made
        # each answer twice as slow as six and the run waited out the pacing window twice
        # as often, for no more coverage (test_sigkill_chaos below runs two slots each).
        with (
            psycopg.connect(database_url) as gate,
            psycopg.connect(database_url, autocommit=True) as watch,  # sees them wait
        ):
            gate.execute("LOCK TABLE progressive_backfill_state IN EXCLUSIVE MODE")
            workers = [
                start_worker(
                    env,
                    "--until-idle",
                    "--concurrency",
                    "1",
                    *IDLE_ENDS,
                    "--id",
                    name,
                    log=tmp_path / f"{name}.log",
                )
                for name in ids
            ]
            deadline = time.monotonic() + 100  # within the claims' statement bound (120 s)
            while time.monotonic() < deadline:
                (waiting,) = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
                if waiting >= len(ids) or any(w.poll() is not None for w in workers):
                    break
                time.sleep(0.05)
            gate.commit()  # the claims go through
        wait_for_workers(workers, timeout=400)
        stats = sim.stats()
    check_invariants(database_url, stats)
    assert pages_fetched_twice(stats) == {}
    with psycopg.connect(database_url) as db:
        (holders,) = db.execute("SELECT count(DISTINCT worker_id) FROM backfill_chunks").fetchone()
        (left,) = db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status <> 'completed'"
        ).fetchone()
    assert holders == 6  # every process took part
    assert left == 0


@pytest.mark.reliability
def test_sigkill_chaos(
    env: dict[str, str], database_url: str, tmp_path: Path, full_size: bool
) -> None:
    """Kill random workers at random moments (20 times under `-m reliability`, 8 in the default
    run, with fewer PRs); restarted workers finish the job."""
    sizes = [30, 300, 800, 1500, 2500, 3500] if full_size else [30, 300, 800, 1200]
    repos = [f"chaos/r{i}:{size}" for i, size in enumerate(sizes)]
    rounds = 20 if full_size else 8
    rng = random.Random(20251128)
    with simulator(repos, seed=3) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", *(r.split(":")[0] for r in repos)).returncode == 0
        args = ("--concurrency", "2", "--lease-seconds", "30")
        workers = {f"w{i}": start_worker(env, *args, "--id", f"w{i}") for i in range(4)}
        kills = 0
        held_at: list[tuple[str, str | None]] = []
        with psycopg.connect(database_url, autocommit=True) as db:
            while kills < rounds:
                time.sleep(rng.uniform(0.2, 1.2))
                victim = rng.choice(sorted(workers))
                workers[victim].kill()
                workers[victim].wait()
                kills += 1
                # Where its backfills stood: what it had fetched ahead of these cursors is
                # fetched again by the next holder, even if it died between two chunks.
                held_at += db.execute(
                    "SELECT r.owner || '/' || r.name, s.cursor FROM progressive_backfill_state s "
                    "JOIN repositories r ON r.id = s.repository_id WHERE s.leased_by = %s",
                    (victim,),
                ).fetchall()
                # The dead worker's leases end now, on the database clock (no sleeping).
                db.execute(
                    "UPDATE progressive_backfill_state SET lease_expires_at = now() "
                    "WHERE leased_by = %s",
                    (victim,),
                )
                dead_requests_leave_the_window(db, [workers[victim].pid])
                replacement = f"w{kills + 3}"
                workers[replacement] = start_worker(env, *args, "--id", replacement)
                del workers[victim]
        finishers = [
            start_worker(env, "--until-idle", *IDLE_ENDS, "--id", f"final{i}") for i in range(2)
        ]
        try:
            wait_for_workers(finishers, timeout=300)
        finally:
            terminate_all([*workers.values(), *finishers])
        stats = sim.stats()
        truths = {
            r.split(":")[0]: get(f"{sim.url}/_sim/truth?repo={r.split(':')[0]}&bodies=1")
            for r in repos
        }
    check_invariants(database_url, stats)
    # Every PR, review thread (id, resolved, outdated, its comments) and comment body as
    # GitHub has it, whatever the kills interrupted.
    for repo, truth in truths.items():
        assert differences(database_url, truth) == [], repo
        assert stored_bodies(database_url, repo) == truth["bodies"], repo
    assert sum(stats["review_threads"].values()) > 0
    # Pages fetched twice: only from where a killed worker's chunk had started (its commit
    # never happened), or where its backfill stood when it died, up to what it had fetched
    # ahead of that.
    with psycopg.connect(database_url) as db:
        killed = db.execute(
            "SELECT r.owner || '/' || r.name, c.cursor_before FROM backfill_chunks c "
            "JOIN progressive_backfill_state s ON s.id = c.backfill_state_id "
            "JOIN repositories r ON r.id = s.repository_id WHERE c.status <> 'completed'"
        ).fetchall()
    starts: dict[str, list[int]] = {}
    for repo, cursor in [*killed, *held_at]:
        starts.setdefault(repo, []).append(pr_position(cursor))
    for repo, cursors in pages_fetched_twice(stats).items():
        for cursor in cursors:
            position = pr_position(cursor)
            assert any(s <= position < s + 400 for s in starts.get(repo, [])), (repo, position)


@pytest.mark.reliability
def test_budget_smaller_than_the_work(env: dict[str, str], database_url: str) -> None:
    """A budget of 12 points per 3 s window for work costing ~40 points: workers wait for each
    reset and finish unattended (never fail, never get RATE_LIMITED, never exceed a window)."""
    repos = ["tight/a:700", "tight/b:500"]
    extra = ("--limit", "12", "--window-seconds", "3")
    with simulator(repos, seed=17, extra=extra) as sim:
        env = engine_env(env, sim, MIN_GRAPHQL_POINTS="3")
        assert cli(env, "add", "tight/a", "tight/b").returncode == 0
        workers = [
            start_worker(env, "--until-idle", *IDLE_ENDS, "--concurrency", "2") for _ in range(2)
        ]
        wait_for_workers(workers, timeout=180)
        stats = sim.stats()
    check_invariants(database_url, stats)
    (token,) = stats["tokens"].values()
    assert token["points_used"] > 2 * 12  # the work needed several windows
    # Waited before the limit, never hit it.
    assert stats["outcomes"].get("rate_limited", 0) == 0, stats["outcomes"]
    assert stats["outcomes"]["ok"] > 0
    assert pages_fetched_twice(stats) == {}
    with psycopg.connect(database_url) as db:
        (failed,) = db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'failed'"
        ).fetchone()
    assert failed == 0  # waiting is not failing


@pytest.mark.reliability
def test_faults_at_ten_percent(env: dict[str, str], database_url: str) -> None:
    repos = ["faulty/a:800", "faulty/b:1200", "faulty/c:300"]
    faults = "502:0.04,504:0.02,reset:0.02,malformed:0.02"  # 10% of requests
    with simulator(repos, seed=11, extra=("--faults", faults)) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", "faulty/a", "faulty/b", "faulty/c").returncode == 0
        workers = [
            start_worker(env, "--until-idle", *IDLE_ENDS, "--concurrency", "2") for _ in range(3)
        ]
        wait_for_workers(workers, timeout=300)
        stats = sim.stats()
    assert sum(stats["faults"].values()) > 0
    check_invariants(database_url, stats)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["add", "foo"], 2, "expected OWNER/NAME"),
        (["add", "a/b/c"], 2, "expected OWNER/NAME"),
        (["add", "good/one", "bad name/x"], 2, "not a valid GitHub owner"),
        (["add", "ghost/missing"], 1, "not found on GitHub"),
    ],
)
def test_bad_input_writes_nothing(env, database_url, args, code, needle) -> None:
    with simulator(["good/one:5"]) as sim:
        result = cli(engine_env(env, sim), *args)
    assert result.returncode == code, result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    with psycopg.connect(database_url) as db:
        assert db.execute("SELECT count(*) FROM repositories").fetchone() == (0,)


def test_empty_token_is_refused(env, database_url) -> None:
    with simulator(["good/one:5"]) as sim:
        result = cli(engine_env(env, sim, GITHUB_TOKEN="  "), "add", "good/one")
    assert result.returncode == 2 and "GITHUB_TOKEN is not set" in result.stderr
    with psycopg.connect(database_url) as db:
        assert db.execute("SELECT count(*) FROM repositories").fetchone() == (0,)


def test_revoked_token_stops_every_worker(env, database_url) -> None:
    from core.simulator import RepoSpec, SimConfig, Simulator, serve

    sim = Simulator(
        SimConfig(
            repos=[RepoSpec("good", "one", 300)],
            revoked_tokens=frozenset({"revoked-simulator-token"}),
        )
    )
    with serve(sim) as url:
        env.update(GITHUB_GRAPHQL_URL=f"{url}/graphql", GITHUB_TOKEN="fine-simulator-token")
        assert cli(env, "add", "good/one").returncode == 0
        env["GITHUB_TOKEN"] = "revoked-simulator-token"
        result = cli(env, "worker", "--concurrency", "3", timeout=60)
        requests = sim.stats()["requests"]
    from core.github.errors import AuthenticationError

    assert result.returncode == AuthenticationError.exit_code != 0
    assert "GITHUB_TOKEN" in result.stderr and "revoked-simulator-token" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("backfill-console: error:")
    assert requests <= 2 + 3  # `add`, then one try per slot at most: no retry storm
    with psycopg.connect(database_url) as db:
        assert db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone() == (0,)


def test_backfill_command_works_until_done(env: dict[str, str], database_url: str) -> None:
    repos = ["cmd/a:120", "cmd/b:40"]
    with simulator(repos) as sim:
        result = cli(engine_env(env, sim), "backfill", "cmd/a", "cmd/b", "--workers", "2")
        stats = sim.stats()
    assert result.returncode == 0, result.stderr
    assert "cmd/a" in result.stdout and "GraphQL budget" in result.stdout
    check_invariants(database_url, stats)
