"""Freshness probe rounds at scale (real processes, the simulator over HTTP, real Postgres):
a `sync` round over many completed repositories costs about a point per hundred and walks
only the ones that moved; the rest are fresh as of the round with no chunk row written."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.support.completed_rows import mark_completed
from tests.support.harness import SimServer, cli, engine_env, simulator
from tests.support.sync_state import differences, get, post

pytestmark = pytest.mark.slow


def points(sim: SimServer) -> int:
    return sum(t["points_used"] for t in sim.stats()["tokens"].values())


def test_300_completed_3_changed_one_round_at_most_15_points(
    cli_env: dict[str, str], database_url: str
) -> None:
    names = [f"o/r{i:03}" for i in range(300)]
    with simulator([f"{n}:2" for n in names]) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "migrate").returncode == 0
        assert cli(env, "add", *names, timeout=600).returncode == 0
        done = cli(
            env, "worker", "--until-idle", "--sync-every", "0", "--concurrency", "4", timeout=900
        )
        assert done.returncode == 0, done.stderr
        changed = names[::100]  # 3 of them
        for name in changed:
            post(f"{sim.url}/_sim/evolve", {"repo": name, "changed": 1, "new": 1})
        with psycopg.connect(database_url) as db:
            chunks_before = db.execute("SELECT count(*) FROM backfill_chunks").fetchone()

        before = points(sim)
        synced = cli(env, "sync", "--json", timeout=600)
        assert synced.returncode == 0, synced.stderr
        spent = points(sim) - before

        assert spent <= 15, spent
        for name in names:
            truth = get(f"{sim.url}/_sim/truth?repo={name}")
            assert differences(database_url, truth) == [], name
        with psycopg.connect(database_url, row_factory=dict_row) as db:
            walked = db.execute(
                "SELECT r.owner || '/' || r.name AS repo FROM backfill_chunks c "
                "JOIN progressive_backfill_state s ON s.id = c.backfill_state_id "
                "JOIN repositories r ON r.id = s.repository_id "
                "WHERE c.kind = 'sync' GROUP BY 1 ORDER BY 1"
            ).fetchall()
            fresh = db.execute(
                "SELECT count(*) AS n FROM progressive_backfill_state "
                "WHERE fresh_as_of >= now() - interval '10 minutes'"
            ).fetchone()
            added = db.execute("SELECT count(*) AS n FROM backfill_chunks").fetchone()["n"]
        assert [w["repo"] for w in walked] == changed  # only the moved ones were walked
        assert fresh["n"] == 300
        assert added - chunks_before[0] == len(changed)  # one sync page each, no other row


def test_1000_completed_nothing_changed_one_round_at_most_15_points_no_chunk(
    cli_env: dict[str, str], database_url: str
) -> None:
    names = [f"o/n{i:04}" for i in range(1000)]
    with simulator([f"{n}:3" for n in names]) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "migrate").returncode == 0
        with psycopg.connect(database_url, row_factory=dict_row) as db:
            # Synced an hour ago up to now: GitHub's (generated) PRs all predate the watermark.
            mark_completed(db, names, total_prs=3, watermark=datetime.now(UTC))
            before = {
                r["id"]: r["fresh_as_of"]
                for r in db.execute("SELECT id, fresh_as_of FROM progressive_backfill_state")
            }

        spent_before = points(sim)
        synced = cli(env, "sync", timeout=600)
        assert synced.returncode == 0, synced.stderr
        spent = points(sim) - spent_before

        assert spent <= 15, spent
        with psycopg.connect(database_url, row_factory=dict_row) as db:
            after = db.execute(
                "SELECT id, fresh_as_of, probe_count, sync_count, leased_by "
                "FROM progressive_backfill_state"
            ).fetchall()
            chunks = db.execute("SELECT count(*) AS n FROM backfill_chunks").fetchone()["n"]
        assert len(after) == 1000
        assert all(r["fresh_as_of"] > before[r["id"]] for r in after)
        assert all((r["probe_count"], r["sync_count"]) == (1, 1) for r in after)
        assert all(r["leased_by"] is None for r in after)
        assert chunks == 0
