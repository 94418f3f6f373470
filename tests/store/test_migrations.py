"""The migration runner: applies once, records checksums, refuses edited history."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from core.errors import MigrationError
from core.store import migrations


def tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_apply_twice_is_a_no_op(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as conn:
        first = migrations.apply(conn)
        assert [m.path.name for m in first] == [
            p.name for p in sorted(migrations.migrations_dir().glob("*.sql"))
        ]
        assert migrations.apply(conn) == []
        assert {
            "repositories",
            "pull_requests",
            "reviews",
            "comments",
            "contributors",
            "progressive_backfill_state",
            "backfill_chunks",
            "workers",
            "github_rate_limits",
        } <= tables(conn)
        recorded = conn.execute("SELECT count(*) FROM backfill_schema_migrations").fetchone()
        assert recorded == (len(first),)


def test_an_edited_applied_migration_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), folder)
    with psycopg.connect(empty_database_url) as conn:
        migrations.apply(conn, folder)
        edited = sorted(folder.glob("*.sql"))[1]
        edited.write_text(edited.read_text() + "\n-- an innocent edit\n")
        with pytest.raises(MigrationError, match=f"{edited.name} was changed after it was applied"):
            migrations.apply(conn, folder)


def test_a_new_migration_is_applied_after_the_others(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), folder)
    with psycopg.connect(empty_database_url) as conn:
        migrations.apply(conn, folder)
        (folder / "29990101000000_add_note.sql").write_text(
            "ALTER TABLE repositories ADD COLUMN note text;"
        )
        applied = migrations.apply(conn, folder)
        assert [m.name for m in applied] == ["add_note"]


def test_a_failing_migration_reports_its_file_and_records_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_broken.sql").write_text("CREATE TABLE x (id int); SELECT 1/0;")
    with psycopg.connect(empty_database_url) as conn:
        with pytest.raises(
            MigrationError, match=r"20250101000000_broken\.sql failed: division by zero"
        ):
            migrations.apply(conn, folder)
        assert "x" not in tables(conn)


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "add_stuff.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"YYYYMMDDHHMMSS_name\.sql"):
        migrations.discover(tmp_path)


def test_rls_is_on_for_every_table_and_anon_has_nothing(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchall()
        assert rows and all(rls for _, rls in rows), rows
        for table, _ in rows:
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                (allowed,) = conn.execute(
                    "SELECT has_table_privilege('anon', %s, %s)", (table, privilege)
                ).fetchone()
                assert not allowed, (table, privilege)
        functions = conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        ).fetchall()
        assert len(functions) >= 10
        for (signature,) in functions:
            for role, expected in (
                ("anon", False),
                ("authenticated", False),
                ("service_role", True),
            ):
                (allowed,) = conn.execute(
                    "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, signature)
                ).fetchone()
                assert allowed is expected, (role, signature)


def test_check_constraints_guard_the_invariants(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        (state_id,) = conn.execute(
            "SELECT backfill_state_id FROM register_backfill('octo', 'r', 3)"
        ).fetchone()
        bad = [
            # a processing chunk without a claim token
            "INSERT INTO backfill_chunks (backfill_state_id, chunk_number) VALUES (%s, 1)",
            # completed without completed_at
            "INSERT INTO backfill_chunks (backfill_state_id, chunk_number, status) "
            "VALUES (%s, 1, 'completed')",
            # an unknown status
            "UPDATE progressive_backfill_state SET status = 'paused-forever' WHERE id = %s",
            # completed without completed_at
            "UPDATE progressive_backfill_state SET status = 'completed' WHERE id = %s",
        ]
        for statement in bad:
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(statement, (state_id,))
