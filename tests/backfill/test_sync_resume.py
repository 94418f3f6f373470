"""A "sync now" after an interrupted sync (real processes, the simulator over HTTP).

A worker is SIGKILLed mid-walk; GitHub then moves on (`POST /_sim/evolve`). The old walk began
before those changes, so finishing it (it resumes from its cursor) cannot bring them in: the
changed PRs moved to the top, behind its cursor. An explicit sync means "fresh as of when it was
asked" (migrations/20250210000000_requested_sync_fresh_as_of_request.sql): one `sync` finishes
the resumed walk and walks again from the top before it says "synced". A scheduled resume
(nobody asked) finishes the old walk only; its watermark is the newest updatedAt it committed,
never further, so the next walk still reaches the later changes. Time is moved in the
database, never slept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.support.harness import cli, engine_env, simulator, start_worker
from tests.support.sync_state import (
    SLOW_ANSWERS,
    differences,
    get,
    post,
    sigkill_mid_sync,
    sync_state,
)

REPO = "o/big"


def iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def kill_mid_walk(env: dict[str, str], database_url: str, log: Path) -> None:
    """Start a worker that syncs, SIGKILL it once a sync page is committed (the walk is
    unfinished), then let its lease lapse in the database."""
    victim = start_worker(
        env, "--until-idle", "--sync-every", "0.001", "--lease-seconds", "60", log=log
    )
    sigkill_mid_sync(database_url, REPO, victim)
    state = sync_state(database_url, REPO)
    assert state["sync_cursor"] is not None and state["sync_count"] == 0
    assert state["sync_watermark"] is None
    with psycopg.connect(database_url) as db:
        db.execute(
            "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second'"
        )
        db.commit()


def newest_stored(database_url: str) -> Any:
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        return db.execute("SELECT max(updated_at) AS t FROM pull_requests").fetchone()["t"]  # type: ignore[index]


def backfilled_and_killed(
    env: dict[str, str], sim_url: str, database_url: str, log: Path
) -> dict[str, Any]:
    """Backfill, change GitHub, kill a syncing worker mid-walk, change GitHub again. Returns
    the second evolve's report."""
    assert cli(env, "migrate").returncode == 0
    assert cli(env, "add", REPO).returncode == 0
    done = cli(env, "worker", "--until-idle", "--sync-every", "0", timeout=300)
    assert done.returncode == 0, done.stderr
    first = post(f"{sim_url}/_sim/evolve", {"repo": REPO, "changed": 400, "new": 10, "seed": 1})
    assert len(first["changed"]) == 400
    kill_mid_walk(env, database_url, log)
    # GitHub moves on after the old walk began: these changes go to the top, above its cursor.
    later = post(f"{sim_url}/_sim/evolve", {"repo": REPO, "changed": 30, "new": 3, "seed": 2})
    assert len(later["changed"]) == 30 and len(later["new"]) == 3
    return later


def test_one_sync_after_a_killed_walk_is_fresh_as_of_the_request(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    with simulator([f"{REPO}:800"], extra=SLOW_ANSWERS) as sim:
        env = engine_env(cli_env, sim)
        backfilled_and_killed(env, sim.url, database_url, tmp_path / "victim.log")
        truth = get(f"{sim.url}/_sim/truth?repo={REPO}")
        assert differences(database_url, truth) != []

        synced = cli(env, "sync", REPO, timeout=300)
        assert synced.returncode == 0, synced.stderr

        assert differences(database_url, truth) == []  # one sync: equal, field by field
        assert get(f"{sim.url}/_sim/truth?repo={REPO}") == truth  # GitHub did not move meanwhile
        state = sync_state(database_url, REPO)
        newest = max(pr["updatedAt"] for pr in truth["pull_requests"])
        assert iso(state["sync_watermark"]) == newest == iso(newest_stored(database_url))
        # The resumed walk finished, then a second walk from the top: two walks, one command.
        assert state["sync_count"] == 2 and state["sync_cursor"] is None
        assert state["fresh_as_of"] >= state["sync_requested_at"]  # the request is honoured
        assert state["processed_prs"] == state["total_prs"] == 813
        out = " ".join(synced.stdout.split())
        again = out.index("began before the sync was asked for, walking again from the top")
        assert out.index("synced (watermark", again) > again
        assert out.count("synced (watermark") == 1  # said once, after the second walk

        # Nothing is left to do: another sync request is honoured by a fresh walk that finds
        # no change and keeps the watermark.
        with psycopg.connect(database_url) as db:
            open_requests = db.execute(
                "SELECT count(*) FROM progressive_backfill_state s "
                "WHERE sync_request_open(s.sync_requested_at, s.fresh_as_of)"
            ).fetchone()
        assert open_requests == (0,)


def test_a_scheduled_resume_keeps_the_watermark_at_what_it_committed(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    with simulator([f"{REPO}:800"], extra=SLOW_ANSWERS) as sim:
        env = engine_env(cli_env, sim)
        later = backfilled_and_killed(env, sim.url, database_url, tmp_path / "victim.log")
        truth = get(f"{sim.url}/_sim/truth?repo={REPO}")
        by_number = {pr["number"]: pr for pr in truth["pull_requests"]}
        earliest_later = min(by_number[n]["updatedAt"] for n in later["changed"] + later["new"])

        # Nobody asked: a worker with a scheduled interval (60 minutes, not due) finishes the
        # unfinished walk only.
        resumed = cli(env, "worker", "--until-idle", "--sync-every", "60", timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        state = sync_state(database_url, REPO)
        assert state["sync_count"] == 1 and state["sync_cursor"] is None
        # The watermark is what the walks committed, never further: below every later change.
        assert state["sync_watermark"] <= newest_stored(database_url)
        assert iso(state["sync_watermark"]) < earliest_later
        missing = differences(database_url, truth)
        assert missing != []
        changed_later = {int(line.split()[0][1:]) for line in missing}
        assert changed_later <= set(later["changed"]) | set(later["new"])

        # The next walk (down to that watermark minus the margin) reaches them all.
        synced = cli(env, "sync", REPO, timeout=300)
        assert synced.returncode == 0, synced.stderr
        assert differences(database_url, truth) == []
        state = sync_state(database_url, REPO)
        assert state["sync_count"] == 2
        assert iso(state["sync_watermark"]) == max(pr["updatedAt"] for pr in truth["pull_requests"])
