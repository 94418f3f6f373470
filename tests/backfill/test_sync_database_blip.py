"""`backfill-console sync` when the database drops the connection of a page's commit (a
restart, a failover, pg_terminate_backend): its exit status says whether the repositories it
was asked to sync are fresh as of the request, in the database. Real processes, the simulator
over HTTP; the commit is held in the database (a trigger's pg_sleep) and its backend ended
there, so the blip lands mid-commit every time."""

from __future__ import annotations

import psycopg

from tests.support.harness import cli, engine_env, simulator
from tests.support.held_statement import end_the_held_statement, hold_first_write
from tests.support.sync_state import differences, get, post, sync_state

REPO = "o/blip"


def test_a_sync_whose_commit_the_database_dropped_does_not_exit_0_stale(
    cli_env: dict[str, str], database_url: str
) -> None:
    """The sync's first page commit loses its connection: the page is not stored and the
    repository rests a few seconds (the chunk's cooldown), so this run cannot finish its
    walk. It must not pass: exit 1, saying the repository is not synced, and the database
    holds the request still open. The next `sync` brings it up to date and exits 0. Before,
    it printed "fresh as of" the old time and exited 0, the changes missing."""
    with simulator([f"{REPO}:60"]) as sim:
        env = engine_env(cli_env, sim)
        assert cli(env, "add", REPO).returncode == 0
        done = cli(env, "worker", "--until-idle", "--sync-every", "0")
        assert done.returncode == 0, done.stderr
        post(f"{sim.url}/_sim/evolve", {"repo": REPO, "changed": 10, "new": 2, "seed": 1})
        truth = get(f"{sim.url}/_sim/truth?repo={REPO}")
        with psycopg.connect(database_url, autocommit=True) as db:
            hold_first_write(db, "pull_requests")
        with end_the_held_statement(database_url) as ended:
            blipped = cli(env, "sync", REPO)
        assert ended, "the sync's commit never reached the database"
        assert differences(database_url, truth) != []  # the page was not stored
        state = sync_state(database_url, REPO)
        assert state["fresh_as_of"] is None or state["fresh_as_of"] < state["sync_requested_at"]
        assert blipped.returncode == 1, blipped.stdout + blipped.stderr
        assert f"{REPO}: not synced" in blipped.stdout + blipped.stderr
        assert "Traceback" not in blipped.stderr

        with psycopg.connect(database_url, autocommit=True) as db:  # its rest is over
            db.execute("UPDATE progressive_backfill_state SET cooldown_until = NULL")
        synced = cli(env, "sync", REPO)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert differences(database_url, truth) == []
