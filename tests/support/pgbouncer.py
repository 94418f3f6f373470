"""A real pgbouncer in front of the test Postgres. In transaction mode, as Supabase's pooler
on port 6543 runs: each transaction may get another server connection, and whatever a session
leaves on its server connection is seen by the pooler's next client of it. In session mode, as
its port 5432 runs: one server connection per client for as long as the client stays.

pgbouncer comes from the distribution's packages (`apt-get install pgbouncer`, what `.ci/run`
does when it is missing) or PGBOUNCER_BIN. It listens on a free loopback port and asks its
clients for the password (scram-sha-256): nothing lets another local user in. The password
(the test server's superuser's) is kept in 0600 files under the session's temporary directory,
never in a URL: clients read it from their own `passfile`, as the embedded server's do.

As root (pgbouncer refuses to run as root) it runs in a user namespace, as the embedded
Postgres does (core/embedded.py): root's own uid outside it, with none of root's capabilities.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support import child_processes

HOW_TO_ENABLE = (
    "need pgbouncer: `apt-get install pgbouncer` (what .ci/run does), or PGBOUNCER_BIN set "
    "to a pgbouncer executable"
)
POOL_SIZE = 10  # server connections per database and user, as a small managed pooler gives


class Unavailable(Exception):
    """pgbouncer cannot be had or started here; the message says why."""


def pgbouncer_binary() -> Path:
    override = os.environ.get("PGBOUNCER_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise Unavailable(f"PGBOUNCER_BIN ({override}) is not an executable")
        return Path(override)
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
    if found is None:
        raise Unavailable("pgbouncer is not installed")
    return Path(found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _password(params: dict[str, str | None]) -> str:
    """The password of the URL's user: its own, else the first matching line of its passfile
    (libpq's `hostname:port:database:username:password`, `*` for any)."""
    if params.get("password"):
        return str(params["password"])
    passfile = params.get("passfile") or os.environ.get("PGPASSFILE")
    path = Path(passfile) if passfile else Path.home() / ".pgpass"
    user = params.get("user") or "postgres"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        raise Unavailable(f"no password for {user}: {path} cannot be read") from None
    for line in lines:
        fields, current, escaped = [], "", False
        for char in line:
            if escaped:
                current, escaped = current + char, False
            elif char == "\\":
                escaped = True
            elif char == ":" and len(fields) < 4:
                fields.append(current)
                current = ""
            else:
                current += char
        fields.append(current)
        if len(fields) == 5 and fields[3] in ("*", user):
            return fields[4]
    raise Unavailable(f"no password for {user} in {path}")


@dataclass
class PgBouncer:
    """One pgbouncer in front of the server `admin_url` points at."""

    admin_url: str
    workdir: Path
    pool_mode: str = "transaction"
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        params = conninfo_to_dict(self.admin_url)
        self.user = str(params.get("user") or "postgres")
        self._password = _password(params)
        self._server_host = str(params.get("host") or "/var/run/postgresql")
        self._server_port = str(params.get("port") or "5432")

    @property
    def log(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def url(self, database_url: str) -> str:
        """`database_url`'s database through the pooler (the password from the passfile)."""
        dbname = conninfo_to_dict(database_url)["dbname"]
        return make_conninfo(
            host="127.0.0.1",
            port=str(self.port),
            dbname=dbname,
            user=self.user,
            passfile=str(self.workdir / "pgpass"),
        )

    def _private(self, name: str, text: str) -> Path:
        path = self.workdir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def _config(self) -> Path:
        quoted = self._password.replace('"', '""')
        users = self._private("userlist.txt", f'"{self.user}" "{quoted}"\n')
        self._private(
            "pgpass",
            f"127.0.0.1:{self.port}:*:{_pgpass_field(self.user)}:{_pgpass_field(self._password)}\n",
        )
        lines = [
            "[databases]",
            f"* = host={self._server_host} port={self._server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {users}",
            f"pool_mode = {self.pool_mode}",
            f"default_pool_size = {POOL_SIZE}",
            "max_client_conn = 400",
            f"logfile = {self.log}",
            "admin_users =",
        ]
        return self._private("pgbouncer.ini", "\n".join(lines) + "\n")

    def start(self, timeout: float = 30) -> PgBouncer:
        binary = pgbouncer_binary()
        prefix = ["unshare", "--user", "--"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [*prefix, str(binary), str(self._config())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", os.defpath)},
        )
        deadline = time.monotonic() + timeout
        probe = self.url(make_conninfo(self.admin_url, dbname="postgres"))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    f"pgbouncer exited with {self.process.returncode}: {self._tail()}"
                )
            try:
                with psycopg.connect(probe, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.stop()
        raise Unavailable(f"pgbouncer did not answer within {timeout} s: {self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        child_processes.stop(self.process)
        self.process = None
