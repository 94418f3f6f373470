"""Worker processes started from the console.

Each is `backfill-console worker` (run from the installed code, never from modules in the
working directory: core.processes) in its own session (`start_new_session=True`), so closing the
console, Ctrl-C in its terminal or a dropped SSH connection does not stop the backfill. Stopping
one sends SIGTERM: it finishes the page in hand and exits, as from the command line. Only
workers this console started are ever signalled: a pid in the database is only a claim.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.processes import open_private_log, process_identity, product_command


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
        self._identities: dict[int, str] = {}  # pid -> pid + start time, taken at start

    def start(self) -> str:
        """Start one worker; returns the id it reports under in the database."""
        worker_id = f"{socket.gethostname()}-console-{uuid.uuid4().hex[:6]}"
        with open_private_log(self.log_dir / f"{worker_id}.log") as log:
            process = subprocess.Popen(
                product_command("worker", "--id", worker_id, "-q", *self.extra_args),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((worker_id, process))
        self._identities[process.pid] = process_identity(process.pid)
        return worker_id

    def stop_one(self) -> str | None:
        """SIGTERM the newest worker this console started that is still running; its id, or
        None. Only this console's own children are signalled, each checked to be the very
        process started (pid and start time), never a pid a database row names."""
        for worker_id, process in reversed(self.started):
            if process.poll() is None and self._is_ours(process):
                process.send_signal(signal.SIGTERM)
                self.started.remove((worker_id, process))
                return worker_id
        return None

    def _is_ours(self, process: subprocess.Popen[bytes]) -> bool:
        return process_identity(process.pid) == self._identities.get(process.pid)

    def stop_all(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop every worker this console started: SIGTERM (each finishes its page), or
        SIGKILL when the data is thrown away anyway (the demo)."""
        for _, process in self.started:
            if process.poll() is None and self._is_ours(process):
                process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for _, process in self.started:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.started.clear()
