"""Worker processes started from the console.

Each is `backfill-console worker` in its own session (`start_new_session=True`), so closing the
console, Ctrl-C in its terminal or a dropped SSH connection does not stop the backfill. Stopping
one sends SIGTERM: it finishes the page in hand and exits, as from the command line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.store.models import WorkerRecord


class LocalWorkers:
    def __init__(
        self,
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.log_dir = log_dir
        self.env = dict(env) if env is not None else None
        self.extra_args = list(extra_args)
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self) -> str:
        """Start one worker; returns the id it reports under in the database."""
        worker_id = f"{socket.gethostname()}-console-{uuid.uuid4().hex[:6]}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{worker_id}.log").open("ab")
        with log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "console.cli",
                    "worker",
                    "--id",
                    worker_id,
                    "-q",
                    *self.extra_args,
                ],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((worker_id, process))
        return worker_id

    def stop_one(self, known: Sequence[WorkerRecord]) -> str | None:
        """SIGTERM the newest worker this console started that is still running, else the
        newest live worker the database lists on this host. Returns its id, or None."""
        for worker_id, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                self.started.remove((worker_id, process))
                return worker_id
        host = socket.gethostname()
        for record in known:  # newest heartbeat first
            if record.alive and record.host == host and _is_worker(record.pid):
                try:
                    os.kill(record.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    continue
                return record.id
        return None

    def stop_all(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop every worker this console started: SIGTERM (each finishes its page), or
        SIGKILL when the data is thrown away anyway (the demo)."""
        for _, process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for _, process in self.started:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.started.clear()


def _is_worker(pid: int) -> bool:
    """Guard against a recycled pid: the process must be a `backfill-console worker`."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.parent.exists():  # no procfs (macOS): trust the fresh heartbeat
        return True
    try:
        return b"worker" in cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
