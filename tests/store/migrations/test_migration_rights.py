"""`migrate` as an owner that is no superuser: the roles the migrations grant to are created
where missing and where this owner may; otherwise one line (exit 4) gives what a superuser
must run first, and nothing at all is changed until then."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from core.store import migrations
from core.store.migration_rights import ROLES
from tests.support.clusters import Cluster
from tests.support.deploy_commands import command_env
from tests.support.harness import cli

API_ROLES = set(ROLES)


def owner_database(cluster: Cluster, attributes: str) -> str:
    """A database owned by a login role with `attributes` (never SUPERUSER); its URL."""
    url = cluster.login_role("app_owner", attributes)
    return make_conninfo(url, dbname=cluster.database("app_owner"))


def state(cluster: Cluster, url: str) -> tuple[set[str], set[str]]:
    """The API roles that exist, and what the database's public schema holds."""
    with psycopg.connect(cluster.admin_url) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(ROLES),)
        ).fetchall()
    with psycopg.connect(url) as conn:
        objects = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchall()
    return {r for (r,) in rows}, {o for (o,) in objects}


def refused_once(url: str, tmp_path: Path) -> str:
    """`migrate` refused: exit 4 and one line; the SQL it says a superuser must run."""
    run = cli(command_env(url, tmp_path), "migrate")
    assert run.returncode == 4, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    match = re.search(r"a superuser must first run: (.*)$", run.stderr.strip())
    assert match, run.stderr
    return match.group(1)


@pytest.mark.parametrize(
    ("attributes", "superuser_creates"),
    [
        ("NOSUPERUSER NOCREATEROLE", API_ROLES),  # may create no role at all
        ("NOSUPERUSER CREATEROLE", {"service_role"}),  # not one with BYPASSRLS
    ],
)
def test_what_the_owner_may_not_create_a_superuser_creates_first(
    bare_cluster: Cluster, tmp_path: Path, attributes: str, superuser_creates: set[str]
) -> None:
    url = owner_database(bare_cluster, attributes)
    before = state(bare_cluster, url)
    assert before == (set(), set())

    statements = refused_once(url, tmp_path)
    assert set(re.findall(r"CREATE ROLE (\w+)", statements)) == superuser_creates
    assert state(bare_cluster, url) == before  # nothing half-done, not even the roles it could

    with psycopg.connect(bare_cluster.admin_url, autocommit=True) as conn:
        conn.execute(statements)  # exactly the line's SQL
    migrated = cli(command_env(url, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    roles, objects = state(bare_cluster, url)
    assert roles == API_ROLES  # the rest created by the first migration, as this owner
    assert {"repositories", "backfill_schema_migrations"} <= objects
    with psycopg.connect(url) as conn:
        assert migrations.pending(conn) == []
    assert cli(command_env(url, tmp_path), "stats").returncode == 0


def test_an_owner_with_bypassrls_creates_the_roles_itself(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    """Postgres 16+: CREATEROLE with BYPASSRLS may create a BYPASSRLS role (Supabase's
    `postgres` has both)."""
    url = owner_database(bare_cluster, "NOSUPERUSER CREATEROLE BYPASSRLS")
    migrated = cli(command_env(url, tmp_path), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert state(bare_cluster, url)[0] == API_ROLES


def test_a_role_that_may_not_create_in_public_is_told_so(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    owner = owner_database(bare_cluster, "NOSUPERUSER")
    stranger = bare_cluster.login_role("stranger", "NOSUPERUSER")
    url = make_conninfo(stranger, dbname=psycopg.conninfo.conninfo_to_dict(owner)["dbname"])
    run = cli(command_env(url, tmp_path), "migrate")
    assert run.returncode == 4, run.stderr
    assert "role stranger may not create tables in schema public" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert state(bare_cluster, owner) == (set(), set())


def test_the_runner_asks_for_the_roles_the_first_migration_creates() -> None:
    first = migrations.discover()[0].sql
    created = dict(re.findall(r"CREATE ROLE (\w+) ([A-Z ]+);", first))
    assert created == ROLES
