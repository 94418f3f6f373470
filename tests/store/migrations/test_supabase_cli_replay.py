"""The `supabase db push` replay is faithful where it matters: statements split by the CLI's
rules (pkg/parser), each file one implicit transaction, history rows as the CLI writes them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from core.store import migrations
from core.store.migration_history import statements_digest
from tests.support.clusters import Cluster
from tests.support.supabase_cli import PushFailed, db_push, find_pending, split, split_and_trim


@pytest.mark.parametrize(
    ("pieces"),
    [
        # a line comment hides `;` up to the end of its line
        ["SELECT 1 -- not here; \n+ 1;", " SELECT 2"],
        # one `-` opens nothing
        ["SELECT 3 - 1;", " SELECT 4"],
        # block comments nest; `;` inside any depth is no separator
        ["SELECT /* a; /* b; */ c; */ 5;", " SELECT 6"],
        # quotes, doubled quotes inside them, and quoted identifiers
        ["SELECT 'x;''y;';", ' SELECT "odd;name"'],
        # dollar quotes, named or not, as function bodies are written
        ["DO $body$ BEGIN PERFORM 1; END $body$;", " DO $$ BEGIN NULL; END $$"],
        # a `$` that opens no tag
        ['SELECT 1 AS "$";', " SELECT 2"],
        # a backslash escapes the next character, `;` included (inside quotes it does not)
        ["SELECT a \\; b;", " SELECT E'\\';", " SELECT 7"],
        # parentheses hold `;` (a rule's action list)
        ["CREATE RULE r AS ON UPDATE TO t DO (NOTIFY t; SELECT 1);", " SELECT 8"],
        # BEGIN ATOMIC ... END holds `;`, whatever the case; atomic inside a name does not
        ["create function f() returns int begin atomic; select 1; end;", " select 9"],
        ["CREATE FUNCTION my_atomic() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;", " SELECT 0"],
    ],
)
def test_split_keeps_each_statement_whole(pieces: list[str]) -> None:
    assert split("".join(pieces)) == pieces


def test_split_and_trim_drops_separators_space_and_empty_statements() -> None:
    assert split_and_trim("\n  SELECT 1 ;;\n\n;  SELECT 2;\n-- the end\n") == [
        "SELECT 1",
        "SELECT 2",
        "-- the end",
    ]


def test_pending_follows_the_cli_rules(tmp_path: Path) -> None:
    files = [tmp_path / f"2025010{i}000000_m{i}.sql" for i in range(1, 5)]
    assert find_pending(files, []) == files
    assert find_pending(files, ["20250101000000", "20250102000000"]) == files[2:]
    with pytest.raises(PushFailed, match="not found in local migrations directory"):
        find_pending(files, ["20250101000000", "20250101500000"])
    with pytest.raises(PushFailed, match="inserted before the last migration"):
        find_pending(files, ["20250101000000", "20250103000000"])


def test_every_file_is_pushed_statement_by_statement_and_recorded(
    bare_cluster: Cluster,
) -> None:
    url = bare_cluster.admin_url
    result = db_push(url, migrations.migrations_dir())
    files = migrations.discover()
    assert result.applied == [m.path.name for m in files]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations "
            "ORDER BY version"
        ).fetchall()
    assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in files]
    for (_, _, statements), m in zip(rows, files, strict=True):
        # What the runner compares a file with: the same for the file and its statements.
        assert statements_digest("".join(statements)) == m.statements_digest


def test_a_failing_file_leaves_nothing_of_itself(bare_cluster: Cluster, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_good.sql").write_text("CREATE TABLE good (id int);\n")
    (folder / "20250102000000_bad.sql").write_text(
        "CREATE TABLE half (id int);\nSELECT 1/0;\nCREATE TABLE never (id int);\n"
    )
    url = bare_cluster.admin_url
    with pytest.raises(PushFailed, match="division by zero"):
        db_push(url, folder)
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "SELECT to_regclass('good') IS NOT NULL, to_regclass('half') IS NOT NULL"
        ).fetchone()
        recorded = conn.execute("SELECT version FROM supabase_migrations.schema_migrations")
        assert names == (True, False)
        assert recorded.fetchall() == [("20250101000000",)]
