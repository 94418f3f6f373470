"""Servers the tests start as child processes (pgbouncer, PostgREST), stopped alike."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM `process` if it still runs, SIGKILL it after 10 s, and reap it."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
