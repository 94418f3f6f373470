"""An `add` that waits on a held lock, to catch it mid-way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def add_until_it_waits(env: dict[str, str], *names: str) -> tuple[subprocess.Popen[str], str]:
    """`add NAMES` as a process, read until it says it waits (a budget too small for all of
    them); the process and that line. The caller ends the process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "add", *names],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(env["BACKFILL_DATA_DIR"]).parent,
    )
    assert proc.stderr is not None
    line = ""
    for line in proc.stderr:  # the process blocks in its wait: the line is there
        if "waiting until" in line:
            break
    return proc, line
