"""Commands whose own database call loses its connection mid-statement (a restart, a
failover, pg_terminate_backend): one line and a non-zero exit, never a traceback (tracebacks
are for bugs, console/cli.py). The statement is held in the database (a trigger's pg_sleep)
and its backend ended there, so the blip lands mid-call every time. Real processes, the
simulator over HTTP, the test Postgres."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.engine.harness import cli, engine_env, environ_without_secrets, simulator

pytestmark = pytest.mark.reliability

# The first repository registered sleeps in the database (a sequence: its count survives the
# rollback of the ended transaction).
SLOW_FIRST_REGISTRATION = """
CREATE SEQUENCE slow_once;
CREATE FUNCTION slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('slow_once') = 1 THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_once BEFORE INSERT ON repositories
    FOR EACH ROW EXECUTE FUNCTION slow_once();
"""


def end_the_sleeping_statement(database_url: str, ended: list[int]) -> None:
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


def test_add_whose_registration_loses_its_connection_says_so_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    """`add` while the database ends the session of its registration: one line saying the
    connection was dropped and to run it again, exit 1, no traceback; nothing registered;
    run again, it adds the repository. Before, the psycopg error's traceback."""
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    with simulator(["blip/a:5"]) as sim:
        env = engine_env(env, sim)
        with psycopg.connect(database_url, autocommit=True) as db:
            db.execute(SLOW_FIRST_REGISTRATION)
        ended: list[int] = []
        killer = threading.Thread(target=end_the_sleeping_statement, args=(database_url, ended))
        killer.start()
        try:
            dropped = cli(env, "add", "blip/a")
        finally:
            killer.join()
        assert ended, "the registration never reached the database"
        assert dropped.returncode == 1, dropped.stderr
        assert "Traceback" not in dropped.stderr
        errors = [line for line in dropped.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, dropped.stderr
        assert errors[0].startswith("backfill-console: error: the database dropped the connection")
        with psycopg.connect(database_url) as db:
            assert db.execute("SELECT count(*) FROM repositories").fetchone() == (0,)
        again = cli(env, "add", "blip/a")
        assert again.returncode == 0, again.stderr
        with psycopg.connect(database_url) as db:
            assert db.execute("SELECT count(*) FROM progressive_backfill_state").fetchone() == (1,)
