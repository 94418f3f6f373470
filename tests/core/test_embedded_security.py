"""The embedded Postgres on a shared machine: only the user who runs it gets in.

Run as root (as in CI and containers) these tests try the attacks of the issue as `nobody`;
run as another user, the tests that need a second local user skip, saying why.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from core.embedded import SOCKET_NAME, EmbeddedPostgres
from core.errors import StoreUnavailable

ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to act as a second local user (nobody)"
)


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SUPABASE_URL", "VITE_SUPABASE_URL", "CI", "GITHUB_ACTIONS")
    }
    env["BACKFILL_DATA_DIR"] = str(data_dir)
    return env


def _postmasters_on(pgdata: Path) -> list[int]:
    """Every live postmaster whose working directory is this cluster (found via /proc). A
    child it has just forked still reads `postgres` until it retitles itself: one whose
    parent is among them is not counted (it made the count 2 under load)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "cwd") == str(pgdata.resolve()) and (
                proc / "cmdline"
            ).read_bytes().split(b"\0", 1)[0].endswith(b"postgres"):
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if _parent(pid) not in found]


def _parent(pid: int) -> int | None:
    try:  # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _as_nobody(target: str) -> str:
    """In a forked child running as nobody: connect to the socket, then with libpq as the
    superuser. Returns what happened (no exec: the interpreter need not be nobody's)."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        outcome = "?"
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                psycopg.connect(target, connect_timeout=5).close()
                outcome = "CONNECTED"
            except psycopg.Error as exc:
                outcome = f"refused: {str(exc).splitlines()[0]}"
        except BaseException as exc:
            outcome = f"child error {exc!r}"
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    chunks = []
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    return b"".join(chunks).decode()


@pytest.fixture(params=["short", "long"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A running embedded server; "long" puts the data so deep that the socket cannot live
    beside it (pgserver then made a world-writable /tmp/runtime-0 directory)."""
    data_dir = tmp_path / "d" if request.param == "short" else tmp_path / ("x" * 120) / "d"
    embedded = EmbeddedPostgres(data_dir)
    embedded.acquire()
    try:
        yield embedded
    finally:
        embedded.destroy()


@ROOT_ONLY
def test_another_local_user_cannot_connect(server: EmbeddedPostgres) -> None:
    params = conninfo_to_dict(server.url())
    socket_dir = Path(str(params["host"]))
    # The socket directory is private to the server's user, wherever it had to go.
    st = socket_dir.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert (socket_dir / SOCKET_NAME).exists()
    # nobody: with the URL (no passfile access), and as the superuser with a guessed password.
    for target in (
        server.url(),
        f"host={socket_dir} dbname=postgres user=postgres password=postgres",
        f"host={socket_dir} dbname=postgres user=postgres",
    ):
        outcome = _as_nobody(target)
        assert outcome.startswith("refused"), outcome


def test_authentication_is_required_even_for_the_owner(server: EmbeddedPostgres) -> None:
    """Even with the socket reachable, scram stands: no trust, no password in the URL."""
    url = server.url()
    assert "password" not in conninfo_to_dict(url)
    assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
    host = conninfo_to_dict(url)["host"]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"host={host} dbname=postgres user=postgres password=wrong").close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("",)  # no TCP at all
    hba = (server.pgdata / "pg_hba.conf").read_text()
    rules = [line for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules == ["local all all scram-sha-256"]


def test_no_permission_changes_outside_what_it_created(tmp_path: Path) -> None:
    base = tmp_path / "home"
    base.mkdir(mode=0o711)
    os.chmod(base, 0o711)  # an odd mode that nobody would "fix" by accident
    data_dir = base / "deep" / "data"
    watched = [base, *base.parents]
    before = {p: stat.S_IMODE(p.stat().st_mode) for p in watched}
    embedded = EmbeddedPostgres(data_dir)
    try:
        embedded.acquire()
        after = {p: stat.S_IMODE(p.stat().st_mode) for p in watched}
        assert after == before
        # What it created is private.
        for created in (base / "deep", data_dir, data_dir / "pgdata", data_dir / "embedded"):
            assert stat.S_IMODE(created.stat().st_mode) == 0o700, created
    finally:
        embedded.destroy()


@ROOT_ONLY
def test_refuses_a_data_directory_of_another_user_with_one_clear_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "theirs"
    data_dir.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(data_dir, nobody.pw_uid, nobody.pw_gid)
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    with pytest.raises(StoreUnavailable, match="not owned by this user"):
        EmbeddedPostgres(data_dir).acquire()
    assert stat.S_IMODE(data_dir.stat().st_mode) == mode  # left as it was
    assert not (data_dir / "pgdata").exists()


HOLDER = """
import sys, time
from pathlib import Path
from core.embedded import embedded_database_url
embedded_database_url(Path(sys.argv[1]))
print("up", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_user_does_not_leave_the_server_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        pgdata = data_dir / "pgdata"
        (first,) = _postmasters_on(pgdata)
        holder.kill()
        holder.wait()
        # The next command reuses the running server, and being the last user, stops it.
        result = subprocess.run(
            [sys.executable, "-m", "console.cli", "stats", "--json"],
            env=_env(data_dir),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert _postmasters_on(pgdata) == []
        assert not (pgdata / "postmaster.pid").exists()
    finally:
        holder.kill()
        EmbeddedPostgres(data_dir).destroy()
    assert first


def test_a_stale_postmaster_pid_naming_a_live_unrelated_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    embedded = EmbeddedPostgres(data_dir)
    embedded.acquire()
    embedded.release()
    pgdata = data_dir / "pgdata"
    assert _postmasters_on(pgdata) == []
    unrelated = subprocess.Popen(["sleep", "120"])
    try:
        # What a crashed postmaster leaves behind, once its pid is reused by something else.
        (pgdata / "postmaster.pid").write_text(
            f"{unrelated.pid}\n{pgdata}\n1700000000\n5432\n/tmp\n\n  1234  5\nready   \n"
        )
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-m", "console.cli", "stats", "--json"],
                env=_env(data_dir),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stderr
        assert unrelated.poll() is None  # never signalled
    finally:
        unrelated.kill()
        unrelated.wait()
        embedded.destroy()
