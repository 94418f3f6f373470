"""Issue 14 case 18: `worker --max-runtime S` ends on time even while every slot is waiting
on GitHub (a simulator answering only secondary limits with retry-after 60): the deadline
ends waits and backoffs, so an Actions job can rely on it. A real worker process."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from .harness import cli, engine_env, environ_without_secrets, simulator, start_worker

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
    with psycopg.connect(database_url) as db:
        processing = db.execute(
            "SELECT count(*) FROM backfill_chunks WHERE status = 'processing'"
        ).fetchone()
        held = db.execute(
            "SELECT count(*) FROM progressive_backfill_state WHERE leased_by IS NOT NULL"
        ).fetchone()
    assert processing == (0,) and held == (0,)
