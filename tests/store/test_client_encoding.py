"""Every connection the product opens asks for UTF-8 itself: a server, database or role whose
`client_encoding` default is not UTF8, or PGCLIENTENCODING in the environment, must neither
garble GitHub's text nor fail on it (LATIN1 cannot encode an emoji; SQL_ASCII would hand back
bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.store import postgres_store
from core.store.postgres import direct_connection
from tests.support.store_rows import pull_request

TEXT = "🚀 修复 Ünïcödé — 絵文字 👩‍💻"


@pytest.fixture(params=["database", "role", "environment"])
def non_utf8_client(
    request: pytest.FixtureRequest, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The test's UTF8 database, where a session starts with another `client_encoding`."""
    name = sql.Identifier(str(conninfo_to_dict(database_url)["dbname"]))
    with psycopg.connect(database_url, autocommit=True) as conn:
        if request.param == "database":
            conn.execute(sql.SQL("ALTER DATABASE {} SET client_encoding = 'LATIN1'").format(name))
        elif request.param == "role":
            conn.execute(
                sql.SQL(
                    "ALTER ROLE CURRENT_USER IN DATABASE {} SET client_encoding = 'WIN1252'"
                ).format(name)
            )
        else:
            monkeypatch.setenv("PGCLIENTENCODING", "SQL_ASCII")
    try:
        with psycopg.connect(database_url) as plain:  # what a session gets without asking
            assert plain.info.encoding != "utf-8"
        yield database_url
    finally:
        if request.param == "role":
            with psycopg.connect(database_url, autocommit=True, client_encoding="UTF8") as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} RESET client_encoding").format(
                        name
                    )
                )


async def test_unicode_prs_are_stored_and_read_back_equal(non_utf8_client: str) -> None:
    store = await postgres_store(non_utf8_client, max_size=2)
    try:
        await store.register_backfill("octo", "repo", 2)
        lease = await store.claim_backfill("w1", lease_seconds=120)
        assert lease is not None
        chunk = await store.start_chunk(lease, "w1")
        assert chunk is not None
        page = [pull_request(n, comments=1) for n in (1, 2)]
        for pr in page:
            pr["title"] = f"{TEXT} #{pr['number']}"
            pr["body"] = TEXT * 3
            pr["comments"][0]["body"] = TEXT
        result = await store.commit_chunk(
            chunk, page, cursor_after="c2", has_next_page=False, total_prs=2
        )
        assert result.committed and result.inserted_prs == 2
    finally:
        await store.close()
    # Read back through the product's own direct connection, in the same environment.
    with direct_connection(non_utf8_client) as conn:
        assert conn.info.encoding == "utf-8"
        rows = conn.execute(
            "SELECT p.title, p.body, c.body FROM pull_requests p "
            "JOIN comments c ON c.pull_request_id = p.id ORDER BY p.number"
        ).fetchall()
        utf8_bytes = conn.execute(
            "SELECT octet_length(body) FROM pull_requests ORDER BY number"
        ).fetchall()
    assert rows == [(f"{TEXT} #1", TEXT * 3, TEXT), (f"{TEXT} #2", TEXT * 3, TEXT)]
    assert utf8_bytes == [(len((TEXT * 3).encode()),)] * 2  # stored as UTF-8, not re-encoded
