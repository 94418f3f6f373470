"""Test databases on the session's server: each test gets its own, created from a template."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def with_dbname(url: str, dbname: str) -> str:
    return make_conninfo(url, dbname=dbname)


def create_database(admin_url: str, template: str | None) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(stmt)
    return with_dbname(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_for_transport(
    admin_url: str, transport: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A test's own database for `transport`: from the migrated template for psycopg, from the
    template prepared as a Supabase project starts for PostgREST; dropped afterwards."""
    template = "template_db" if transport == "psycopg" else "supabase_template"
    url = create_database(admin_url, request.getfixturevalue(template))
    try:
        yield url
    finally:
        drop_database(admin_url, url)
