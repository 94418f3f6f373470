"""Postgres clusters of their own, for tests about roles (which are cluster-wide).

The session's shared server already has the API roles (its template was migrated by a
superuser) and must not gain Supabase's: such tests start a private embedded cluster (about
half a second) and log in with roles made for them, passwords in the URL.

`supabase_like` makes a cluster look like a Supabase project's: `supabase_admin` is the
superuser there; the API roles exist; the role users connect as, `postgres` there, is no
superuser but has CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS and is a member of the API
roles; it owns the database, and its new objects in `public` are granted to the API roles.
(The embedded cluster's bootstrap superuser is called `postgres` and stays a superuser, so
Supabase's `postgres` is played by `project_owner`.)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.embedded import EmbeddedPostgres

PROJECT_OWNER = "project_owner"


@dataclass
class Cluster:
    admin_url: str  # the bootstrap superuser's

    def login_role(self, name: str, attributes: str = "", *, in_role: str = "") -> str:
        """Create a login role; its URL (on the `postgres` database)."""
        password = secrets.token_urlsafe(16)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + attributes).format(
                    sql.Identifier(name), sql.Literal(password)
                )
                + (sql.SQL(" IN ROLE ") + sql.SQL(in_role) if in_role else sql.SQL(""))
            )
        return self.url_as(self.admin_url, name, password)

    @staticmethod
    def url_as(url: str, user: str, password: str | None = None, dbname: str | None = None) -> str:
        params = conninfo_to_dict(url)
        params.pop("passfile", None)
        params["user"] = user
        if password is not None:
            params["password"] = password
        if dbname is not None:
            params["dbname"] = dbname
        return make_conninfo(**params)

    def database(self, owner: str) -> str:
        """A new database owned by `owner`; its name."""
        name = f"d_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
        return name

    def admin(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(make_conninfo(self.admin_url, dbname=dbname), autocommit=True)


@contextmanager
def private_cluster(directory: Path) -> Iterator[Cluster]:
    server = EmbeddedPostgres(directory / "cluster")
    try:
        yield Cluster(server.acquire())
    finally:
        server.destroy()


def supabase_like(cluster: Cluster) -> str:
    """Give `cluster` a Supabase project's roles; the URL of its `postgres` (project_owner)."""
    with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
        conn.execute("CREATE ROLE supabase_admin SUPERUSER NOLOGIN")
        conn.execute("CREATE ROLE anon NOLOGIN NOINHERIT")
        conn.execute("CREATE ROLE authenticated NOLOGIN NOINHERIT")
        conn.execute("CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS")
    url = cluster.login_role(
        PROJECT_OWNER,
        "NOSUPERUSER CREATEROLE CREATEDB REPLICATION BYPASSRLS",
        in_role="anon, authenticated, service_role",
    )
    return url


def supabase_project_database(cluster: Cluster, owner_url: str) -> str:
    """A database as a Supabase project's starts: owned by its `postgres`, whose new objects in
    public go to the API roles too (the migrations revoke what they must). Its owner's URL."""
    name = cluster.database(PROJECT_OWNER)
    with cluster.admin(name) as conn:
        conn.execute("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role")
        for kind in ("TABLES", "FUNCTIONS", "SEQUENCES"):
            conn.execute(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {PROJECT_OWNER} IN SCHEMA public "
                f"GRANT ALL ON {kind} TO anon, authenticated, service_role"
            )
    return make_conninfo(owner_url, dbname=name)
