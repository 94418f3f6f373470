"""Backfills against the simulator's `github` profile (GitHub's server time, 10 or 20 times faster):
complete and exact, never provoking the secondary limit after the first minute, with at most a
handful of 502/504s, and two worker processes on one token within the shared budget: every
request was admitted by the database's ledger only while the token's server time in the window
(both processes, in flight included) left room for it, checked from the ledger afterwards."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from core.secrets import fingerprint
from tests.support.harness import (
    TOKEN,
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    github_profile,
    paced_env,
    simulator,
    start_worker,
    wait_for_workers,
)

pytestmark = [pytest.mark.slow, pytest.mark.alone]  # server time is measured time

SCALE = 20.0  # a GitHub minute is 3 s
# The workers and the simulator share the test machine's two cores, where GitHub has its own:
# a request could reach the simulator tens of milliseconds after the ledger admitted it, and at
# --time-scale 20 each 50 ms is a whole second of GitHub's minute (GitHub's own network jitter
# is a few hundredths of its minute). Requests admitted apart then arrived bunched, and the
# simulator's minute passed the ledger's by up to 2 s. So the workers run at a lower CPU
# priority (NICE) than the simulator, and two processes, which load the machine most, run at
# half the scale (half the data keeps the run as short).
NICE = 10
SHARED_SCALE = 10.0
BUDGET = 54.0  # the default: 90% of GitHub's 60 s per minute
KILL = 10.0  # GitHub's, in GitHub seconds: an unsettled request counts at most this
# GitHub seconds one request per process may take beyond the estimate it was admitted on (the
# ledger's rule holds on estimates, checked exactly by _check_ledger; an answer slower than
# every recent one of its size passes it: single answers up to 2.7 s over, and two processes'
# peak minute 50.8-58.2 s in 17 runs, 2.1 s per process over the budget at most).
ESTIMATE_SLACK = 2.5
# Rich PRs (reviews, comments, labels; some with hundreds, paged by follow-ups).
REPOS = ["rich/alpha:400", "rich/beta:700", "rich/gamma:250", "rich/delta:900"]
SHARED_REPOS = ["rich/alpha:200", "rich/beta:350", "rich/gamma:150", "rich/delta:450"]
MAX_TIMEOUTS = 3  # "a handful": GitHub kills a page past 10 s; pages aim at 5 s


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return base


def _check_pacing(stats: dict, workers: int) -> dict:
    token = stats["tokens"][fingerprint(TOKEN)]
    # No secondary-limit answer after GitHub's first minute (none at all, in fact, is the aim).
    late = [at for at in token["secondary_at"] if at >= 60]
    assert late == [], token["secondary_at"]
    assert stats["outcomes"].get("timeout", 0) <= MAX_TIMEOUTS, stats["outcomes"]
    # The simulator's own count: server time started within any GitHub minute. The pacer
    # admits a request by its estimated time, so the measured minute can pass the budget by
    # what one request per process took beyond its estimate; it must stay clear of GitHub's
    # 60 s.
    assert token["server_seconds_peak_minute"] <= BUDGET + ESTIMATE_SLACK * workers, (
        workers,
        token,
    )
    assert token["server_seconds_peak_minute"] < 60, (workers, token)
    assert token["server_seconds"] > 0
    return token


def test_a_paced_backfill_of_rich_repositories_completes_exactly(
    env: dict[str, str], database_url: str, record_property
) -> None:
    with simulator(REPOS, extra=github_profile(SCALE)) as sim:
        env = engine_env(env, sim, **paced_env(SCALE))
        added = cli(env, "add", *(r.split(":")[0] for r in REPOS))
        assert added.returncode == 0, added.stderr
        worker = start_worker(env, "--until-idle", "--concurrency", "2", "--quiet", nice=NICE)
        wait_for_workers([worker], timeout=240)
        stats = sim.stats()
        check_invariants(database_url, stats)
        token = _check_pacing(stats, 1)
        record_property("peak_minute", token["server_seconds_peak_minute"])  # for reports
        shown = cli(env, "stats", "--json")
        assert shown.returncode == 0, shown.stderr
    import json

    (budget,) = json.loads(shown.stdout)["graphql"]
    server = budget["serverTime"]
    assert server["budgetSeconds"] == pytest.approx(BUDGET / SCALE)
    assert server["windowSeconds"] == pytest.approx(60 / SCALE)
    assert server["prsPerHour"] > 0 and server["secondaryLimits"] == 0


def _check_ledger(database_url: str, processes: int, scale: float) -> int:
    """Recompute, from the ledger's history, what each reservation was admitted against: the
    token's server time started within the window before it (answers settled by then at
    their measured time, those in flight at the larger of their estimate and their elapsed
    time, capped at the kill), every process included. With it, the reservation's estimate
    stays within the budget (or it was alone in the window). Returns the reservations."""
    window, budget, kill = 60 / scale, BUDGET / scale, KILL / scale
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT process, extract(epoch FROM started_at)::float8, estimate, seconds,"
            " extract(epoch FROM settled_at)::float8 FROM github_server_time"
            " WHERE token_fingerprint = %s ORDER BY started_at",
            (fingerprint(TOKEN),),
        ).fetchall()
    assert len({process for process, *_ in rows}) == processes + 1, rows  # `add`, workers
    assert all(settled is not None for *_, settled in rows), rows  # every answer settled
    for i, (_, start, estimate, _, _) in enumerate(rows):
        before = 0.0
        for _, other, other_estimate, seconds, settled in rows[:i]:
            if other > start - window:
                elapsed = min(start - other, kill)
                before += seconds if settled <= start else max(other_estimate, elapsed)
        assert before == 0 or before + estimate <= budget + 1e-6, (start, before, estimate)
    return len(rows)


def test_two_worker_processes_on_one_token_share_the_budget(
    env: dict[str, str], database_url: str, record_property
) -> None:
    with simulator(SHARED_REPOS, extra=github_profile(SHARED_SCALE)) as sim:
        env = engine_env(env, sim, **paced_env(SHARED_SCALE))
        added = cli(env, "add", *(r.split(":")[0] for r in SHARED_REPOS))
        assert added.returncode == 0, added.stderr
        workers = [
            start_worker(
                env, "--until-idle", "--concurrency", "2", "--quiet", "--id", f"w{i}", nice=NICE
            )
            for i in range(2)
        ]
        wait_for_workers(workers, timeout=240)
        stats = sim.stats()
        check_invariants(database_url, stats)
        token = _check_pacing(stats, 2)
    record_property("peak_minute", token["server_seconds_peak_minute"])  # for reports
    # Every request GitHub saw, GraphQL and REST (the comment catch-up), went through the
    # ledger (the simulator counts them too; this test has one token).
    assert _check_ledger(database_url, 2, SHARED_SCALE) == stats["tokens"][fingerprint(TOKEN)][
        "requests"
    ] + stats["rest"].get("requests", 0)
