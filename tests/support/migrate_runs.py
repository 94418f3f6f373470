"""A `migrate` process started in the background and finished, and what it applied."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def start_migrate(env: dict[str, str], url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "migrate"],
        env={**env, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )


def finish(runs: list[subprocess.Popen[str]], timeout: float) -> list[tuple[str, str]]:
    """Each run's (stdout, stderr); a run still waiting after `timeout` (a lock nobody will
    release) fails the test, and none is left running."""
    try:
        return [run.communicate(timeout=timeout) for run in runs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"a migrate still waits after {timeout:g} s")
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()


def applied_names(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("applied ")]
