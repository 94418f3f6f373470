"""`migrate` through a transaction pooler: several at once, beside direct ones, each file
applied once, no lock left behind on a pooled server connection."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from core.errors import MigrationError
from core.store import migrations
from core.store.postgres import direct_connection
from tests.support.migrate_runs import applied_names, finish, start_migrate
from tests.support.pgbouncer import PgBouncer

pytestmark = pytest.mark.slow


def test_four_migrates_through_the_pooler_and_two_direct_apply_each_file_once(
    pgbouncer: PgBouncer, empty_database_url: str, cli_env: dict[str, str]
) -> None:
    pooled = pgbouncer.url(empty_database_url)
    urls = [pooled] * 4 + [empty_database_url] * 2
    runs = [start_migrate(cli_env, url) for url in urls]
    outputs = finish(runs, timeout=120)
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    files = [m.path.name for m in migrations.discover()]
    # Between them they applied every file once; the files applied by each run are in order.
    each = [applied_names(out) for out, _ in outputs]
    assert sorted(name for names in each for name in names) == sorted(files)
    for names in each:
        assert names == sorted(names)
    with psycopg.connect(empty_database_url) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM backfill_schema_migrations")]
        assert sorted(versions) == [m.version for m in migrations.discover()]
        # No advisory lock is left on a server connection the pooler keeps open.
        held = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        assert held == (0,)
    # ... so the next ones, through the pooler and direct, find the schema up to date at once.
    again = [start_migrate(cli_env, url) for url in (pooled, pooled, empty_database_url)]
    for run, (out, err) in zip(again, finish(again, timeout=60), strict=True):
        assert run.returncode == 0, err
        assert "database schema is up to date" in out


def test_a_migration_that_fails_through_the_pooler_leaves_no_lock(
    pgbouncer: PgBouncer, empty_database_url: str, tmp_path: Path
) -> None:
    """A failing file rolls back its transaction and with it the lock: the next run, on any
    server connection, is not kept waiting."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_first.sql").write_text("CREATE TABLE first_table (id int);")
    (folder / "20250102000000_broken.sql").write_text("CREATE TABLE x (id int); SELECT 1/0;")
    pooled = pgbouncer.url(empty_database_url)
    with (
        direct_connection(pooled) as conn,
        pytest.raises(MigrationError, match=r"20250102000000_broken\.sql failed: division by zero"),
    ):
        migrations.apply(conn, folder)
    with psycopg.connect(empty_database_url) as db:
        held = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        assert held == (0,)
    (folder / "20250102000000_broken.sql").unlink()
    (folder / "20250103000000_fixed.sql").write_text("CREATE TABLE fixed_table (id int);")
    with direct_connection(pooled) as conn:
        assert [m.name for m in migrations.apply(conn, folder)] == ["fixed"]
    with psycopg.connect(empty_database_url) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM backfill_schema_migrations")]
        assert sorted(versions) == ["20250101000000", "20250103000000"]
        assert db.execute("SELECT to_regclass('x')").fetchone() == (None,)
