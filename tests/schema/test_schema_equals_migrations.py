"""`schema/` (the schema as it is now) and `migrations/` (its history) build the same database.

One database comes from the migrations (the session's migrated template), one from `schema/`
alone; their catalogs are compared object by object (tests/support/schema_catalog.py). A
migration that changes the schema without the same change in `schema/`, or the reverse,
fails here with the objects that differ named.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import schema_catalog, schema_files
from tests.support.databases import create_database, drop_database


@pytest.fixture(scope="module")
def migrated(pg_admin_url: str, template_db: str) -> schema_catalog.Snapshot:
    """The catalog of a database built by `migrations/`."""
    url = create_database(pg_admin_url, template_db)
    try:
        with psycopg.connect(url) as conn:
            return schema_catalog.snapshot(conn)
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def built_from(pg_admin_url: str) -> Iterator[object]:
    """Builds an empty database from a schema folder; the catalog it ends with."""
    urls: list[str] = []

    def build(directory: Path) -> schema_catalog.Snapshot:
        urls.append(create_database(pg_admin_url, None))
        with psycopg.connect(urls[-1]) as conn:
            schema_files.load(conn, directory)
            return schema_catalog.snapshot(conn)

    yield build
    for url in urls:
        drop_database(pg_admin_url, url)


def compare(migrated: schema_catalog.Snapshot, schema: schema_catalog.Snapshot) -> list[str]:
    return schema_catalog.differences(
        migrated, schema, expected_name="migrations/", actual_name="schema/"
    )


def test_schema_folder_builds_what_the_migrations_build(migrated, built_from) -> None:
    found = compare(migrated, built_from(schema_files.schema_dir()))
    assert not found, (
        "schema/ and migrations/ differ (make the same change in both; "
        "`python -m tests.support.schema_files NAME` rewrites a function's file):\n"
        + "\n".join(found)
    )


def test_the_comparison_sees_every_kind_of_object(migrated) -> None:
    """A comparison that read nothing would pass: the migrated catalog holds each kind."""
    kinds = {name.split(" ")[0] for name in migrated}
    assert {
        "schema",
        "table",
        "sequence",
        "column",
        "constraint",
        "index",
        "policy",
        "trigger",
        "function",
    } <= kinds
    assert "table backfill_schema_migrations" not in migrated


def _one_function(tree: Path) -> tuple[Path, str]:
    path = tree / schema_files.FUNCTIONS / "claim_sync.sql"
    return path, path.read_text(encoding="utf-8")


def _changed_body(tree: Path) -> str:
    path, text = _one_function(tree)
    path.write_text(text.replace("AS $function$\n", "AS $function$\n-- edited\n", 1))
    return "function claim_sync("


def _dropped_index(tree: Path) -> str:
    path = tree / "20_tables" / "04_reviews.sql"
    text = path.read_text(encoding="utf-8")
    statement = re.search(r"CREATE INDEX (\w+) [^;]*;\n", text)
    assert statement
    path.write_text(text.replace(statement.group(0), ""))
    return f"index {statement.group(1)}: only in migrations/"


def _changed_table_grant(tree: Path) -> str:
    path = tree / "20_tables" / "08_workers.sql"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("GRANT ALL ON TABLE workers", "GRANT SELECT ON TABLE workers"))
    return "table workers: grants differs"


def _changed_function_grant(tree: Path) -> str:
    path, text = _one_function(tree)
    path.write_text(text + "GRANT EXECUTE ON FUNCTION claim_sync TO authenticated;\n")
    return "function claim_sync("


def _changed_check(tree: Path) -> str:
    path = tree / "20_tables" / "07_backfill_chunks.sql"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("CHECK (pr_count >= 0)", "CHECK (pr_count > 0)"))
    return "constraint backfill_chunks.backfill_chunks_pr_count_check: definition differs"


@pytest.mark.parametrize(
    ("edit", "attribute"),
    [
        (_changed_body, "body differs"),
        (_dropped_index, ""),
        (_changed_table_grant, ""),
        (_changed_function_grant, "grants differs"),
        (_changed_check, ""),
    ],
    ids=["function body", "dropped index", "table grant", "function grant", "check"],
)
def test_a_wrong_edit_of_one_schema_file_is_named(
    migrated, built_from, tmp_path: Path, edit, attribute: str
) -> None:
    tree = tmp_path / "schema"
    shutil.copytree(schema_files.schema_dir(), tree)
    expected = edit(tree)

    found = compare(migrated, built_from(tree))

    assert len(found) == 1, "\n".join(found)
    assert found[0].startswith(expected), found[0]
    assert attribute in found[0].split("\n")[0], found[0]


def test_the_helper_writes_function_files_as_they_are(database_url: str, tmp_path: Path) -> None:
    """`python -m tests.support.schema_files` refreshes a function's file from a migrated
    database, keeping its comments: on the committed tree it changes nothing, and an edited
    body is put back as the migrations define it."""
    tree = tmp_path / "schema"
    shutil.copytree(schema_files.schema_dir(), tree)
    path, original = _one_function(tree)
    _changed_body(tree)
    with psycopg.connect(database_url) as conn:
        assert schema_files.write_all(conn, tree) == [path]
        assert schema_files.write_all(conn, tree) == []
    assert path.read_text(encoding="utf-8") == original
