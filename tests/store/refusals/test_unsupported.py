"""A server the product cannot use is refused on connecting and before migrating, in one line
(exit 3), with nothing written: a database whose encoding is not UTF8 (SQL_ASCII was left
half-migrated, LATIN1 failed every page in Python and stayed `active`), and a PostgreSQL older
than 15 (14 was taken without a word)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from core.embedded import EmbeddedPostgres
from core.errors import DatabaseUnsupported
from core.store import migrations
from core.store.refusals import MIN_SERVER_VERSION, check_server, unsupported_server
from tests.support.databases import with_dbname
from tests.support.harness import cli
from tests.support.refusals import (
    REFUSED,
    database_encoded,
    postgres14_bin,
    public_relations,
    refused_in_one_line,
)

COMMANDS = (("migrate",), ("stats",), ("worker", "--until-idle"), ("recover",))


def env_for(cli_env: dict[str, str], url: str) -> dict[str, str]:
    # A token and an address nothing answers: the database is refused before GitHub is asked.
    return {
        **cli_env,
        "DATABASE_URL": url,
        "GITHUB_TOKEN": "unused",
        "GITHUB_GRAPHQL_URL": "http://127.0.0.1:9/graphql",
    }


# WIN1252 and EUC_JP: encodings the issue did not name, refused by the same rule.
@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1", "WIN1252", "EUC_JP"])
def test_a_database_not_utf8_is_refused_and_nothing_is_written(
    pg_admin_url: str, cli_env: dict[str, str], encoding: str
) -> None:
    with database_encoded(pg_admin_url, encoding) as url:
        for command in COMMANDS:
            line = refused_in_one_line(
                cli(env_for(cli_env, url), *command), REFUSED, f"encoding is {encoding}"
            )
            assert "CREATE DATABASE <name> ENCODING 'UTF8' TEMPLATE template0" in line
        # The library path too (the embedded database migrates through it).
        with psycopg.connect(url) as conn, pytest.raises(DatabaseUnsupported):
            migrations.apply(conn)
        assert public_relations(url) == []  # not a table, not the migration history


def test_a_utf8_database_passes_the_same_check(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        check_server(conn.info)  # the session's server: PostgreSQL 15 or newer, UTF8
        assert conn.info.server_version >= MIN_SERVER_VERSION


@pytest.mark.parametrize(
    ("version", "encoding", "refused"),
    [
        (140023, "UTF8", "PostgreSQL 14.23"),
        (149999, "UTF8", "PostgreSQL 14.9999"),
        (150000, "UTF8", None),
        (180006, "UTF8", None),
        (180006, "utf8", None),
        (150000, "LATIN1", "encoding is LATIN1"),
    ],
)
def test_the_rule(version: int, encoding: str, refused: str | None) -> None:
    why = unsupported_server(version, encoding)
    assert (why is None) == (refused is None)
    if refused is not None:
        assert why is not None and refused in why


@pytest.fixture
def postgres14() -> Iterator[str]:
    """A real PostgreSQL 14 of this test's own, with an empty database `backfill`."""
    binaries = postgres14_bin()
    directory = Path(tempfile.mkdtemp(prefix="pg14-"))
    server = EmbeddedPostgres(directory / "data", bin_dir=binaries)
    try:
        admin = server.acquire()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("backfill")))
        yield with_dbname(admin, "backfill")
    finally:
        server.destroy()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
def test_postgres_14_is_refused_and_nothing_is_written(
    postgres14: str, cli_env: dict[str, str]
) -> None:
    with psycopg.connect(postgres14) as conn:
        assert conn.info.server_version // 10000 == 14  # a real 14, not a pretend one
    for command in COMMANDS:
        line = refused_in_one_line(
            cli(env_for(cli_env, postgres14), *command), REFUSED, "PostgreSQL 14."
        )
        assert "needs PostgreSQL 15 or newer" in line
    with psycopg.connect(postgres14) as conn, pytest.raises(DatabaseUnsupported):
        migrations.apply(conn)
    assert public_relations(postgres14) == []
