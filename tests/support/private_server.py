"""A Postgres server of the test's own, to stop and start under a running engine."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg import sql

from core.embedded import EmbeddedPostgres
from core.store import migrations
from tests.support.databases import with_dbname


class PrivateServer:
    """An embedded Postgres for one test, with a migrated database `backfill`."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedPostgres(directory / "data")
        self.admin_url = self.server.acquire()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("backfill")))
        self.url = with_dbname(self.admin_url, "backfill")
        with psycopg.connect(self.url) as conn:
            migrations.apply(conn)

    def pid(self) -> int:
        pid = self.server.running_pid()
        assert pid is not None, "the private server is not running"
        return pid

    def wait_down(self, pid: int, timeout: float = 30) -> None:
        """Until the postmaster `pid` has exited (reaped: this process started it)."""
        deadline = time.monotonic() + timeout
        while self.server.running_pid() == pid:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            assert time.monotonic() < deadline, "the private server did not stop"
            time.sleep(0.02)

    def wait_sessions_gone(self, backend_pids: list[int], timeout: float = 30) -> None:
        """Until the backends of these closed sessions have exited. A client's close returns
        before its backend has left: the slot it held (max_connections) is free only once the
        process is gone, and a connection tried meanwhile is refused "too many clients"
        (seen under load). A backend is the server's child in this pid namespace: exited is
        no /proc entry, or a zombie the postmaster has yet to reap."""
        deadline = time.monotonic() + timeout
        for pid in backend_pids:
            while _running(pid):
                assert time.monotonic() < deadline, f"backend {pid} did not exit"
                time.sleep(0.01)

    def stop(self) -> None:
        """A fast shutdown (`pg_ctl stop -m fast`): every session ended, then no socket."""
        pid = self.pid()
        os.kill(pid, signal.SIGINT)
        self.wait_down(pid)

    def start(self) -> None:
        self.server.acquire()

    @contextmanager
    def shutting_down(self) -> Iterator[None]:
        """A smart shutdown (`pg_ctl stop -m smart`) held open by one session: new sessions
        are answered "the database system is shutting down" until the context ends, then the
        server stops (no socket) until `start`."""
        with psycopg.connect(self.admin_url, autocommit=True) as held:
            pid = self.pid()
            os.kill(pid, signal.SIGTERM)
            yield
            held.execute("SELECT 1")  # a session begun before the shutdown still works
        self.wait_down(pid)

    def destroy(self) -> None:
        self.server.destroy()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # the state follows the command's ")"
