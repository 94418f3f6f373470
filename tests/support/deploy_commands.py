"""Every command a deployment runs, as processes against one database, with the simulator:
add, worker --until-idle, sync (after GitHub changed), recover, stats, and the console's data
load; each checked by its exit status and by what the database holds afterwards."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

import psycopg

from console.backend import Backend
from core.config import load_settings
from tests.support.harness import (
    TOKEN,
    check_invariants,
    cli,
    engine_env,
    environ_without_secrets,
    simulator,
)

REPOS = ["deploy/alpha:60", "deploy/beta:25"]


def command_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return env


def console_load(database_url: str, graphql_url: str, tmp_path: Path) -> tuple[set[str], int]:
    """What the console loads on each poll (its Backend's snapshot) and a repository's detail:
    the repositories shown completed, and the detail's chunk count."""
    settings = load_settings(
        database_url=database_url,
        github_token=TOKEN,
        github_graphql_url=graphql_url,
        data_dir=str(tmp_path / "data"),
    )
    backend = Backend(settings)
    backend.start()

    async def load() -> tuple[set[str], int]:
        report = await backend.snapshot()
        detail = await backend.detail(str(report.progress[0].backfill_state_id))
        assert detail is not None
        return {p.repository for p in report.progress if p.status == "completed"}, len(
            detail.chunks
        )

    try:
        return asyncio.run(load())
    finally:
        backend.close()


def run_every_command(database_url: str, check_url: str, tmp_path: Path) -> None:
    """Run them all as `database_url`'s role; `check_url` (the owner's) inspects the result."""
    with simulator(REPOS) as sim:
        env = engine_env(command_env(database_url, tmp_path), sim)
        names = [r.split(":")[0] for r in REPOS]
        added = cli(env, "add", *names)
        assert added.returncode == 0, added.stderr
        worked = cli(env, "worker", "--until-idle", "--concurrency", "2", timeout=240)
        assert worked.returncode == 0, worked.stderr
        check_invariants(check_url, sim.stats())

        request = urllib.request.Request(
            f"{sim.url}/_sim/evolve",
            data=json.dumps({"repo": names[0], "changed": 3, "new": 2, "seed": 5}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        synced = cli(env, "sync", names[0])
        assert synced.returncode == 0, synced.stderr
        with psycopg.connect(check_url) as db:
            (stored,) = db.execute(
                "SELECT count(*) FROM pull_requests p JOIN repositories r "
                "ON r.id = p.repository_id WHERE r.owner = 'deploy' AND r.name = 'alpha'"
            ).fetchone() or (0,)
        assert stored == 62  # the two new PRs arrived

        recovered = cli(env, "recover", "--json")
        assert recovered.returncode == 0, recovered.stderr
        assert json.loads(recovered.stdout)["chunks"] == []
        shown = cli(env, "stats", "--json")
        assert shown.returncode == 0, shown.stderr
        progress = json.loads(shown.stdout)["progress"]
        assert {p["repository"] for p in progress if p["status"] == "completed"} == set(names)

        completed, chunks = console_load(database_url, sim.graphql_url, tmp_path)
        assert completed == set(names)
        assert chunks > 0
