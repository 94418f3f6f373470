"""A read-only target (`ALTER DATABASE ... SET default_transaction_read_only = on`, what a
replica is to every session): every command that writes ends in one line naming "read-only"
and exit 4 (`migrate` when it has a migration to apply; up to date, it writes nothing),
`worker --until-idle` exits instead of looping on tracebacks, nothing else is printed on
stderr (no second line from a refused side write), and not a row changes (every
row's xmin compared). Reading still works: `stats` exits 0. Turned writable again, the same
`recover` does its work."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.store.store import Store
from tests.support.harness import cli, engine_env, environ_without_secrets, simulator
from tests.support.recovery_rows import chunk_row, dump, stuck_chunk
from tests.support.refusals import REFUSED, refused_in_one_line

pytestmark = pytest.mark.slow


def set_read_only(admin_url: str, database_url: str, on: bool) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        setting = "SET default_transaction_read_only = on" if on else "RESET ALL"
        conn.execute(sql.SQL("ALTER DATABASE {} " + setting).format(sql.Identifier(name)))


async def test_every_writing_command_says_read_only_and_changes_nothing(
    pg_admin_url: str, database_url: str, db: psycopg.Connection, store: Store, tmp_path: Path
) -> None:
    base = {"DATABASE_URL": database_url, "BACKFILL_DATA_DIR": str(tmp_path / "data")}
    _, stuck = await stuck_chunk(store, db, "stuck", minutes=120, expected=None)
    with simulator(["acme/done:30", "acme/more:20"]) as sim:
        env = engine_env({**environ_without_secrets(), **base}, sim, MIN_GRAPHQL_POINTS="0")
        assert cli(env, "add", "acme/done").returncode == 0
        worked = cli(env, "worker", "--until-idle", "--sync-every", "0")
        assert worked.returncode == 0, worked.stderr
        done = db.execute(
            "SELECT s.status FROM progressive_backfill_state s JOIN repositories r "
            "ON r.id = s.repository_id WHERE r.name = 'done'"
        ).fetchone()
        assert done is not None and done["status"] == "completed"
        db.execute(
            "UPDATE progressive_backfill_state s SET status = 'failed', last_error = 'x', "
            "leased_by = NULL, lease_expires_at = NULL FROM repositories r "
            "WHERE r.id = s.repository_id AND r.name = 'stuck'"
        )

        set_read_only(pg_admin_url, database_url, True)
        before = dump(db)
        for command in (
            ("add", "acme/more"),
            ("sync",),
            ("recover",),
            ("retry", "octo/stuck"),
            ("worker", "--until-idle"),
            ("backfill", "acme/more"),
        ):
            result = cli(env, *command, timeout=90)
            refused_in_one_line(result, REFUSED, "read-only", "25006")
            # Only that line: a side write refused too (a rate-limit record, a heartbeat)
            # is not said again (core.errors.side_failure_level).
            # (The note that the token goes to the simulator, not GitHub, is this test's own.)
            said = [x for x in result.stderr.splitlines() if x and "GITHUB_TOKEN is sent" not in x]
            assert len(said) == 1, (command, result.stderr)
        assert dump(db) == before  # not a row written, not one half-done

        migrated = cli(env, "migrate")  # nothing to apply: nothing to write, nothing refused
        assert migrated.returncode == 0 and "up to date" in migrated.stdout, migrated.stderr
        stats = cli(env, "stats")
        assert stats.returncode == 0, stats.stderr

        set_read_only(pg_admin_url, database_url, False)
        recovered = cli(env, "recover")
        assert recovered.returncode == 0, recovered.stderr
    assert chunk_row(db, stuck.id)["status"] != "processing"


def test_migrate_with_a_migration_to_apply_says_read_only(
    pg_admin_url: str, database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    last = db.execute("SELECT max(version) AS v FROM backfill_schema_migrations").fetchone()
    assert last is not None
    db.execute("DELETE FROM backfill_schema_migrations WHERE version = %s", (last["v"],))
    set_read_only(pg_admin_url, database_url, True)
    before = dump(db)
    env = {**environ_without_secrets(), "DATABASE_URL": database_url}
    env["BACKFILL_DATA_DIR"] = str(tmp_path / "data")
    refused_in_one_line(cli(env, "migrate", timeout=90), REFUSED, "read-only", "25006")
    assert dump(db) == before


def test_a_refused_query_cut_short_by_a_stopping_worker_is_not_said_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker stopping on the refusal cancels its other slots' calls; the database refused
    those too: psycopg's "closing connection" and the pool's "discarding" that follows are
    DEBUG. Any other cancellation failure, and any other discard, stays a warning."""
    import core.store.postgres  # noqa: F401 - installs the filter

    caplog.set_level(logging.WARNING)
    said = "query cancellation interrupted (%s): closing connection"
    logging.getLogger("psycopg").warning(said, "ReadOnlySqlTransaction")
    logging.getLogger("psycopg.pool").warning("discarding closed connection: %s", "a")
    logging.getLogger("psycopg.pool").warning("discarding closed connection: %s", "b")
    logging.getLogger("psycopg").warning(said, "OperationalError")
    assert [r.getMessage() for r in caplog.records] == [
        "discarding closed connection: b",
        "query cancellation interrupted (OperationalError): closing connection",
    ]
