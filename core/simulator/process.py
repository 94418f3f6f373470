"""The simulator as its own process (`backfill-console simulate --port 0`), so its CPU never
competes with the process that drives it (the console, a benchmark, a test)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from core.processes import product_command


@contextmanager
def simulator_process(
    repos: Sequence[str], *args: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Yields the simulator's base URL (`…/graphql` is the endpoint) and its process.

    `repos` are OWNER/NAME:PRS; `args` are more `simulate` options (--limit, --seed, ...).
    """
    command = product_command("simulate", "--port", "0", *args)
    for repo in repos:
        command += ["--repo", repo]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the simulator did not start: {line or process.wait()}")
        yield line.removeprefix("listening on "), process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
