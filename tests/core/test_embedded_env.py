"""The embedded Postgres as real processes: what it inherits, how long it lives, and what a
corrupt `postmaster.pid` gets.

- The server binaries get an allow-listed environment: the GITHUB_TOKEN of the command that
  happened to start it never sits in a long-lived server's /proc/<pid>/environ.
- Its lifetime is its clients' (core/embedded.py): the last one out stops it. A SIGTERMed
  command is one out (its atexit release runs); only a SIGKILLed one leaves the server to
  the next command, which prunes it (README, Security).
- A `postmaster.pid` whose first line is not a pid is named as corrupt, with what to do.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from core.embedded import SERVER_ENV_ALLOWED, EmbeddedPostgres
from tests.support.cli_waits import add_until_it_waits
from tests.support.harness import cli, engine_env, simulator

TOKEN_CANARY = "canary-token-value-7c1e"


@pytest.fixture
def embedded_env(cli_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = dict(cli_env)
    env.pop("DATABASE_URL")
    env["BACKFILL_DATA_DIR"] = str(tmp_path / "data")
    env["SOME_OTHER_SECRET"] = "canary-other-value"
    return env


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def test_server_gets_a_minimal_environment_and_stops_with_a_sigtermed_add(
    embedded_env: dict[str, str],
) -> None:
    data_dir = Path(embedded_env["BACKFILL_DATA_DIR"])
    with simulator(["e/one:5", "e/two:5"], extra=("--limit", "1")) as sim:
        env = engine_env(embedded_env, sim, MIN_GRAPHQL_POINTS="0", GITHUB_TOKEN=TOKEN_CANARY)
        proc, _ = add_until_it_waits(env, "e/one", "e/two")  # it waits an hour: time to look
        server = EmbeddedPostgres(data_dir)
        try:
            pid = server.running_pid()
            assert pid is not None
            seen = environ(pid)
            assert set(seen) <= set(SERVER_ENV_ALLOWED), sorted(seen)
            assert TOKEN_CANARY not in str(seen) and "canary-other-value" not in str(seen)
            assert list((data_dir / "embedded" / "clients").iterdir())  # `add` is a client
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # The last client out stopped it: nothing left running for nobody.
    assert server.running_pid() is None
    assert not list((data_dir / "embedded" / "clients").iterdir())


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe12345\n/some/dir\n", b"not a pid\n", b"12\x0034\n"],
    ids=["non-utf8", "text", "nul"],
)
def test_a_corrupt_postmaster_pid_is_named_with_what_to_do(
    embedded_env: dict[str, str], content: bytes
) -> None:
    data_dir = Path(embedded_env["BACKFILL_DATA_DIR"])
    first = cli(embedded_env, "stats")  # makes the cluster, starts and stops the server
    assert first.returncode == 0, first.stderr
    lockfile = data_dir / "pgdata" / "postmaster.pid"
    assert not lockfile.exists()
    lockfile.write_bytes(content)
    result = cli(embedded_env, "stats")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "postmaster.pid is corrupt" in lines[0] and "delete the file" in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    # Doing what it says works.
    lockfile.unlink()
    assert cli(embedded_env, "stats").returncode == 0


def test_a_non_utf8_data_path_in_a_stale_postmaster_pid_is_not_corrupt(
    embedded_env: dict[str, str],
) -> None:
    """Line 2 is the data directory, which may hold any bytes: a dead pid on line 1 with such
    a line 2 is an ordinary stale file, removed at start-up."""
    data_dir = Path(embedded_env["BACKFILL_DATA_DIR"])
    assert cli(embedded_env, "stats").returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    (data_dir / "pgdata" / "postmaster.pid").write_bytes(f"{dead.pid}\n".encode() + b"/d\xff\n")
    result = cli(embedded_env, "stats")
    assert result.returncode == 0, result.stderr
    assert os.path.exists(data_dir / "pgdata")
