"""SIGKILL mid-sync (real processes): another worker reaches the same end state, and the
watermark is never ahead of what was committed. Time is moved in the database, not slept."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_sigkill_mid_sync_then_another_worker(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    with simulator(["o/big:800"], extra=SLOW_ANSWERS) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "migrate").returncode == 0
        assert cli(env, "add", "o/big").returncode == 0
        done = cli(env, "worker", "--until-idle", "--sync-every", "0", timeout=300)
        assert done.returncode == 0, done.stderr
        report = post(f"{sim.url}/_sim/evolve", {"repo": "o/big", "changed": 400, "new": 10})
        assert len(report["changed"]) == 400 and report["comments_deleted"] > 0
        truth = get(f"{sim.url}/_sim/truth?repo=o/big")
        assert differences(database_url, truth) != []

        victim = start_worker(
            env, "--until-idle", "--sync-every", "0.001", "--lease-seconds", "60",
            log=tmp_path / "victim.log",
        )  # fmt: skip
        sigkill_mid_sync(database_url, "o/big", victim)

        state = sync_state(database_url, "o/big")
        assert state["sync_watermark"] is None  # the walk is unfinished: it did not move
        assert state["sync_cursor"] is not None and state["sync_count"] == 0
        with psycopg.connect(database_url, row_factory=dict_row) as db:
            newest_committed = db.execute(
                "SELECT max(p.updated_at) AS t FROM pull_requests p"
            ).fetchone()["t"]
            assert state["sync_target"] <= newest_committed
            # The dead worker's lease lapses and its chunk ages: 35 minutes pass in the
            # database, and the scheduled recovery runs.
            db.execute(
                "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval "
                "'1 second', last_claimed_at = last_claimed_at - interval '35 minutes'"
            )
            db.execute(
                "UPDATE backfill_chunks SET started_at = started_at - interval '35 minutes' "
                "WHERE status = 'processing'"
            )
            db.commit()
        recovered = cli(env, "recover", "--json")
        assert recovered.returncode == 0, recovered.stderr

        again = cli(env, "sync", "o/big", timeout=300)
        assert again.returncode == 0, again.stderr
        state = sync_state(database_url, "o/big")
        assert differences(database_url, get(f"{sim.url}/_sim/truth?repo=o/big")) == []
        newest = max(pr["updatedAt"] for pr in truth["pull_requests"])
        assert state["sync_watermark"].isoformat().replace("+00:00", "Z") == newest
        # The dead worker's walk, resumed and finished; it began before `sync` asked, so a
        # freshness probe follows, finds nothing newer than the walk's watermark, and makes
        # the data fresh as of the request with no second walk.
        assert state["sync_cursor"] is None and state["sync_count"] == 1
        assert state["probe_count"] == 1
        assert state["fresh_as_of"] >= state["sync_requested_at"]
        assert state["processed_prs"] == state["total_prs"] == 810
        with psycopg.connect(database_url, row_factory=dict_row) as db:
            left = db.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
            ).fetchone()
            numbers = [
                r["chunk_number"]
                for r in db.execute(
                    "SELECT chunk_number FROM backfill_chunks ORDER BY chunk_number"
                ).fetchall()
            ]
        assert left == {"n": 0}
        stats = cli(env, "stats", "--json")
        assert stats.returncode == 0, stats.stderr
        (row,) = json.loads(stats.stdout)["freshness"]
        assert row["repository"] == "o/big" and row["syncs"] == 1 and not row["syncing"]
        assert row["fresh_as_of"] is not None and 0 <= row["lag_seconds"] < 600
        assert numbers == list(range(1, len(numbers) + 1))
