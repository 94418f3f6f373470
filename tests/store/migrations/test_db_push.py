"""Supabase's own workflow: `supabase db push` of migrations/ (replayed faithfully,
tests/support/supabase_cli.py) as the project's `postgres`, which is no superuser, then
`backfill-console` — in both orders, and every command after the push."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from core.errors import MigrationError
from core.store import migrations
from tests.support.clusters import Cluster, supabase_project_database
from tests.support.deploy_commands import command_env, run_every_command
from tests.support.harness import cli
from tests.support.supabase_cli import PushFailed, db_push

MIGRATIONS = migrations.migrations_dir()
ALL = [p.name for p in sorted(MIGRATIONS.glob("*.sql"))]


@pytest.fixture
def project(supabase_cluster: tuple[Cluster, str]) -> str:
    """A fresh Supabase-like project database; the URL of its (non-superuser) `postgres`."""
    cluster, owner_url = supabase_cluster
    return supabase_project_database(cluster, owner_url)


def histories(url: str) -> dict[str, list[str]]:
    """The versions each history records, read as the owner (None: no such table)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        for name, table in (
            ("backfill", "public.backfill_schema_migrations"),
            ("supabase", "supabase_migrations.schema_migrations"),
        ):
            (exists,) = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            if exists:
                rows = conn.execute(f"SELECT version FROM {table} ORDER BY version").fetchall()
                found[name] = [v for (v,) in rows]
    return found


def versions(names: list[str]) -> list[str]:
    return [n.split("_", 1)[0] for n in names]


def schema(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relkind::text || ':' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "UNION SELECT 'f:' || p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        ).fetchall()
    return {r for (r,) in rows}


def folder_with(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "supabase" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(MIGRATIONS / name, folder / name)
    return folder


@pytest.mark.slow
def test_after_a_push_migrate_is_a_no_op_and_every_command_works(
    project: str, tmp_path: Path
) -> None:
    pushed = db_push(project, MIGRATIONS)
    assert pushed.applied == ALL
    assert histories(project) == {"supabase": versions(ALL)}

    migrated = cli(command_env(project, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout
    assert histories(project) == {"supabase": versions(ALL)}  # nothing written

    run_every_command(project, project, tmp_path)
    assert db_push(project, MIGRATIONS).output == "Remote database is up to date."


@pytest.mark.slow
def test_after_migrate_a_push_finds_nothing_to_do_and_every_command_works(
    project: str, tmp_path: Path
) -> None:
    migrated = cli(command_env(project, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert histories(project) == {"backfill": versions(ALL), "supabase": versions(ALL)}
    before = schema(project)

    pushed = db_push(project, MIGRATIONS)
    assert pushed.applied == [] and pushed.output == "Remote database is up to date."
    assert schema(project) == before
    run_every_command(project, project, tmp_path)


def test_the_tools_take_turns_release_after_release(project: str, tmp_path: Path) -> None:
    """An older release pushed, the next one migrated, the one after pushed again: each tool
    applies only what neither history has."""
    first, second = ALL[:8], ALL[:16]
    assert db_push(project, folder_with(tmp_path / "a", first)).applied == first
    with psycopg.connect(project) as conn:
        applied = migrations.apply(conn, folder_with(tmp_path / "b", second))
    assert [m.path.name for m in applied] == second[8:]
    assert histories(project)["supabase"] == versions(second)
    assert db_push(project, folder_with(tmp_path / "c", ALL)).applied == ALL[16:]
    with psycopg.connect(project) as conn:
        assert migrations.apply(conn) == []
        assert migrations.pending(conn) == []


def test_a_push_over_an_older_migrate_changes_nothing_until_migrate_records_it(
    project: str, tmp_path: Path
) -> None:
    """What the CLI does when our history exists and its own does not (an older release of
    `migrate` recorded only ours): it runs the first file again, which fails on its first
    table, and its one transaction leaves nothing. `migrate` then records every applied version
    in the CLI's history (the README's path), and the push finds nothing to do."""
    with psycopg.connect(project) as conn:
        migrations.apply(conn)
    with psycopg.connect(project, autocommit=True) as conn:
        conn.execute("DROP SCHEMA supabase_migrations CASCADE")  # what an older release left
    before = schema(project)

    with pytest.raises(PushFailed, match='relation "repositories" already exists'):
        db_push(project, MIGRATIONS)
    assert schema(project) == before
    assert histories(project)["supabase"] == []

    migrated = cli(command_env(project, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert histories(project)["supabase"] == versions(ALL)
    assert db_push(project, MIGRATIONS).applied == []


def test_a_file_edited_after_the_push_is_refused(project: str, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, ALL)
    db_push(project, folder)
    edited = folder / ALL[3]
    # Layout alone (the CLI trims each statement) is no edit; a changed statement is.
    edited.write_text(edited.read_text() + "\n\n")
    with psycopg.connect(project) as conn:
        assert migrations.pending(conn, folder) == []
    edited.write_text(edited.read_text().replace("integer", "bigint", 1))
    with (
        psycopg.connect(project) as conn,
        pytest.raises(MigrationError, match=f"{ALL[3]} was changed after `supabase db push`"),
    ):
        migrations.pending(conn, folder)


def test_what_migrate_records_for_the_cli_rebuilds_each_file(project: str) -> None:
    """`supabase migration fetch` writes each version's statements back as a file (joined by
    `;` and a newline): from what `migrate` recorded, that is the file, and the CLI's own
    statements give the same digest as the file."""
    with psycopg.connect(project) as conn:
        migrations.apply(conn)
        rows = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations"
        ).fetchall()
    files = {m.version: m for m in migrations.discover()}
    assert {v for v, _, _ in rows} == set(files)
    for version, name, statements in rows:
        m = files[version]
        assert name == m.name
        assert ";\n".join(statements) + ";\n" == m.sql.strip().rstrip(";") + ";\n"


def test_migration_files_hold_no_whitespace_the_digest_would_keep() -> None:
    """The digest drops ASCII whitespace only; the CLI trims any Unicode space around a
    statement. Files with only ASCII whitespace give both the same digest."""
    for path in MIGRATIONS.glob("*.sql"):
        odd = {c for c in path.read_text() if c.isspace() and c not in " \t\n\r\f\v"}
        assert not odd, (path.name, odd)


def test_on_plain_postgres_a_push_after_migrate_is_harmless_and_migrate_then_records_it(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    """Not a Supabase project and no CLI history: `migrate` keeps its own only. A push then
    fails on the first file and changes nothing but create the CLI's (empty) history; the
    next `migrate` records every version there, and the push finds nothing to do."""
    url = bare_cluster.admin_url
    with psycopg.connect(url) as conn:
        migrations.apply(conn)
    assert histories(url) == {"backfill": versions(ALL)}
    before = schema(url)
    with pytest.raises(PushFailed, match="already exists"):
        db_push(url, MIGRATIONS)
    assert schema(url) == before
    migrated = cli(command_env(url, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert histories(url) == {"backfill": versions(ALL), "supabase": versions(ALL)}
    assert db_push(url, MIGRATIONS).applied == []


@pytest.mark.parametrize(
    "change",
    [
        # rows written without their statements (by hand, or another tool)
        "UPDATE supabase_migrations.schema_migrations SET statements = NULL",
        # a history older than the CLI's `statements` column: versions only
        "ALTER TABLE supabase_migrations.schema_migrations DROP COLUMN statements",
    ],
)
def test_a_cli_history_without_statements_counts_its_versions(project: str, change: str) -> None:
    db_push(project, MIGRATIONS)
    with psycopg.connect(project, autocommit=True) as conn:
        conn.execute(change)
    with psycopg.connect(project) as conn:
        assert migrations.pending(conn) == []
    with psycopg.connect(project) as conn:
        assert migrations.apply(conn) == []
