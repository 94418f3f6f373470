"""`worker --max-runtime S` ends on time even while every slot is waiting
on GitHub (a simulator answering only secondary limits with retry-after 60): the deadline
ends waits and backoffs, so an Actions job can rely on it. A real worker process."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.harness import (
    assert_nothing_processing_or_held,
    cli,
    engine_env,
    environ_without_secrets,
    simulator,
    start_worker,
)

pytestmark = pytest.mark.slow


def test_max_runtime_ends_secondary_limit_backoffs(database_url: str, tmp_path: Path) -> None:
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    repos = ["acme/one:300", "acme/two:300"]
    with simulator(repos) as clean:
        added = cli(engine_env(base, clean), "add", "acme/one", "acme/two")
        assert added.returncode == 0, added.stderr
    with simulator(repos, extra=["--faults", "secondary:1.0"]) as limited:
        started = time.monotonic()
        worker = start_worker(engine_env(base, limited), "--concurrency", "2", "--max-runtime", "6")
        try:
            code = worker.wait(timeout=6 + 8)  # before: 60 s and more (retry-after 60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
            pytest.fail("the worker outlived --max-runtime by more than 8 s")
        elapsed = time.monotonic() - started
        assert limited.stats()["faults"].get("secondary", 0) >= 1
    assert code == 0
    assert elapsed < 6 + 6, elapsed
    assert_nothing_processing_or_held(database_url)


def test_sigterm_ends_waits_on_github_after_a_grace(database_url: str, tmp_path: Path) -> None:
    """cron, systemd and Actions stop a worker with SIGTERM: the page in hand may finish, but
    a wait on GitHub (here secondary-limit backoffs of 60 s) ends after the stop's grace
    (STOP_GRACE_SECONDS, 10 s): the process exits, nothing is left processing or leased."""
    base = environ_without_secrets()
    base.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    repos = ["acme/one:300"]
    with simulator(repos) as clean:
        assert cli(engine_env(base, clean), "add", "acme/one").returncode == 0
    with simulator(repos, extra=["--faults", "secondary:1.0"]) as limited:
        worker = start_worker(engine_env(base, limited), "--concurrency", "1")
        deadline = time.monotonic() + 30
        while not limited.stats()["faults"].get("secondary") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert limited.stats()["faults"].get("secondary", 0) >= 1  # it is waiting now
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=10 + 10)  # before: the whole 60 s backoff, and more
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
            pytest.fail("a SIGTERMed worker kept waiting on GitHub past the stop's grace")
    assert code == 0
    assert_nothing_processing_or_held(database_url)
