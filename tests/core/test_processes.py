"""Processes the product starts run its installed code, only its own are signalled, and
their logs are private."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.local_workers import LocalWorkers
from core.simulator.process import simulator_process
from core.store.models import WorkerRecord

PLANT = """
from pathlib import Path
Path({marker!r}).write_text("planted code ran")
print("listening on http://planted")
"""


def plant(cwd: Path, marker: Path) -> None:
    """What an attacker (or an unrelated project) leaves in the working directory."""
    for package in ("console", "core"):
        (cwd / package).mkdir()
        (cwd / package / "__init__.py").write_text(PLANT.format(marker=str(marker)))
    (cwd / "console" / "cli.py").write_text(PLANT.format(marker=str(marker)))


def test_workers_run_the_installed_code_not_the_working_directory(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, marker = tmp_path / "cwd", tmp_path / "marker"
    cwd.mkdir()
    plant(cwd, marker)
    monkeypatch.chdir(cwd)
    env = {**cli_env, "GITHUB_TOKEN": "t", "GITHUB_GRAPHQL_URL": "http://127.0.0.1:9/graphql"}
    old_umask = os.umask(0o022)
    try:
        workers = LocalWorkers(tmp_path / "data" / "logs", env=env, extra_args=["--until-idle"])
        worker_id = workers.start()
    finally:
        os.umask(old_umask)
    ((_, process),) = workers.started
    try:
        assert process.wait(90) == 0
    finally:
        workers.stop_all(kill=True)
    assert not marker.exists()
    log = tmp_path / "data" / "logs" / f"{worker_id}.log"
    assert "planted" not in log.read_text()
    # Finding 8: the log and its directory are private, whatever the umask.
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_an_existing_open_log_directory_of_ours_is_tightened(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    os.chmod(logs, 0o755)
    old = logs / "w.log"
    old.write_text("x")
    os.chmod(old, 0o644)
    from core.processes import open_private_log

    with open_private_log(old) as f:
        f.write(b"y")
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


def test_the_simulator_runs_the_installed_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, marker = tmp_path / "cwd", tmp_path / "marker"
    cwd.mkdir()
    plant(cwd, marker)
    monkeypatch.chdir(cwd)
    with simulator_process(["a/b:3"]) as (url, _):
        assert url.startswith("http://127.0.0.1:")
    assert not marker.exists()


def test_the_stop_key_never_signals_a_process_a_database_row_names(tmp_path: Path) -> None:
    # A same-user process whose command line says "worker", named by a (forged) worker row.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "worker"])
    try:
        now = datetime.now(UTC)
        row = WorkerRecord(
            id="forged",
            host=socket.gethostname(),
            pid=decoy.pid,
            status="working",
            backfill_state_id=None,
            repository=None,
            detail=None,
            started_at=now,
            heartbeat_at=now,
            stopped_at=None,
            alive=True,
        )
        workers = LocalWorkers(tmp_path / "logs")
        stop_one = workers.stop_one
        stopped = stop_one() if stop_one.__code__.co_argcount == 1 else stop_one([row])  # type: ignore[call-arg]
        assert stopped is None
        time.sleep(0.3)
        assert decoy.poll() is None, "a process this console did not start was signalled"
    finally:
        decoy.kill()
        decoy.wait()
