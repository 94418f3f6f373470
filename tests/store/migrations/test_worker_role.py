"""The README's least-privilege worker role (a login role in service_role, nothing else) runs
every command but `migrate`; `migrate` as that role says in one line who must run it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.errors import MigrationNotAllowed
from core.store import migrations
from tests.support.clusters import Cluster, supabase_project_database
from tests.support.deploy_commands import command_env, run_every_command
from tests.support.harness import cli
from tests.support.supabase_cli import db_push

README = Path(__file__).resolve().parents[3] / "README.md"
PASSWORD = "worker-test-password"


def readme_worker_role() -> str:
    """The README's statement, with a password of this test's."""
    statement = r"CREATE ROLE backfill_worker LOGIN PASSWORD '[^']*' IN ROLE \w+;"
    match = re.search(statement, README.read_text())
    assert match, "README.md lost its worker role"
    return re.sub(r"PASSWORD '[^']*'", f"PASSWORD '{PASSWORD}'", match.group(0))


def worker_url(cluster: Cluster, database_url: str) -> str:
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute(readme_worker_role())
    dbname = conninfo_to_dict(database_url)["dbname"]
    return Cluster.url_as(cluster.admin_url, "backfill_worker", PASSWORD, dbname)


@pytest.mark.slow
def test_every_command_but_migrate_runs_as_the_worker_role(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    owner = make_conninfo(bare_cluster.admin_url, dbname=bare_cluster.database("postgres"))
    with psycopg.connect(owner) as conn:
        migrations.apply(conn)
    worker = worker_url(bare_cluster, owner)

    run_every_command(worker, owner, tmp_path)
    migrated = cli(command_env(worker, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr  # nothing to do: says so
    assert "up to date" in migrated.stdout


@pytest.mark.slow
def test_the_worker_role_reads_a_pushed_projects_history(
    supabase_cluster: tuple[Cluster, str], tmp_path: Path
) -> None:
    """On a Supabase project pushed with the CLI, the worker's check reads the CLI's history
    (a schema it is granted nothing in) through backfill_applied_migrations()."""
    cluster, owner_url = supabase_cluster
    project = supabase_project_database(cluster, owner_url)
    db_push(project, migrations.migrations_dir())
    worker = worker_url(cluster, project)
    with psycopg.connect(worker) as conn:
        (usage,) = conn.execute(
            "SELECT has_schema_privilege('supabase_migrations', 'USAGE')"
        ).fetchone() or (True,)
        assert usage is False
        assert migrations.pending(conn) == []
    run_every_command(worker, project, tmp_path)


def test_migrate_as_the_worker_role_says_who_must_run_it(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    """A schema one migration behind: commands say so; `migrate` exits 4 in one line naming
    the owner, and nothing is applied."""
    owner = make_conninfo(bare_cluster.admin_url, dbname=bare_cluster.database("postgres"))
    folder = tmp_path / "older"
    folder.mkdir()
    for m in migrations.discover()[:-1]:
        shutil.copy(m.path, folder)
    with psycopg.connect(owner) as conn:
        migrations.apply(conn, folder)
    worker = worker_url(bare_cluster, owner)

    stats = cli(command_env(worker, tmp_path), "stats")
    assert stats.returncode == 1 and "schema is behind" in stats.stderr
    migrated = cli(command_env(worker, tmp_path), "migrate")
    assert migrated.returncode == 4, migrated.stderr
    line = migrated.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "role backfill_worker may not change the schema" in line
    assert "postgres" in line  # the owner to run it as
    with psycopg.connect(owner) as conn:
        assert [m.name for m in migrations.pending(conn)] == [migrations.discover()[-1].name]


def test_the_worker_role_sees_exactly_whats_pending(bare_cluster: Cluster, tmp_path: Path) -> None:
    owner = make_conninfo(bare_cluster.admin_url, dbname=bare_cluster.database("postgres"))
    with psycopg.connect(owner) as conn:
        migrations.apply(conn)
    folder = tmp_path / "next"
    folder.mkdir()
    for m in migrations.discover():
        shutil.copy(m.path, folder)
    (folder / "29990101000000_later.sql").write_text("ALTER TABLE repositories ADD note text;")
    worker = worker_url(bare_cluster, owner)
    with psycopg.connect(worker) as conn:
        assert [m.name for m in migrations.pending(conn, folder)] == ["later"]
    with (
        psycopg.connect(worker) as conn,
        pytest.raises(MigrationNotAllowed, match="may not change the schema"),
    ):
        migrations.apply(conn, folder)
    with psycopg.connect(owner) as conn:
        assert [m.name for m in migrations.pending(conn, folder)] == ["later"]
