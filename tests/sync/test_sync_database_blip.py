"""`backfill-console sync` when the database drops the connection of a page's commit (a
restart, a failover, pg_terminate_backend): its exit status says whether the repositories it
was asked to sync are fresh as of the request, in the database. Real processes, the simulator
over HTTP; the commit is held in the database (a trigger's pg_sleep) and its backend ended
there, so the blip lands mid-commit every time."""

from __future__ import annotations

import threading
import time

import psycopg

from tests.engine.harness import cli, engine_env, simulator
from tests.sync.helpers import differences, sync_state
from tests.sync.test_sync_crash import get, post

REPO = "o/blip"

# The first write of a pull request sleeps (a sequence: the count survives the rollback of
# the killed transaction), so the sync's first commit is still running when it is ended.
SLOW_FIRST_WRITE = """
CREATE SEQUENCE slow_once;
CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('slow_once') = 1 THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_once BEFORE INSERT OR UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION slow_once();
"""


def end_the_sleeping_commit(database_url: str, ended: list[int]) -> None:
    """Terminate the backend asleep in the trigger (the sync's commit), once."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event = 'PgSleep'"
            ).fetchall()
            if rows:
                ended.append(len(rows))
                return
            time.sleep(0.02)


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
            db.execute(SLOW_FIRST_WRITE)
        ended: list[int] = []
        killer = threading.Thread(target=end_the_sleeping_commit, args=(database_url, ended))
        killer.start()
        try:
            blipped = cli(env, "sync", REPO)
        finally:
            killer.join()
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
