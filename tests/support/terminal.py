"""The console in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyte

COLUMNS, LINES = 100, 30


@dataclass
class Terminal:
    pid: int
    fd: int
    screen: pyte.Screen = field(default_factory=lambda: pyte.Screen(COLUMNS, LINES))
    lock: threading.Lock = field(default_factory=threading.Lock)
    reading: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.stream = pyte.ByteStream(self.screen)
        self.reading.set()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        # Never blocked in read(): a read in progress holds the master open after close(),
        # so a "hang up" would only happen once the console next wrote something.
        while self.reading.is_set():
            try:
                if not select.select([self.fd], [], [], 0.05)[0]:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.stream.feed(data)

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.screen.display)

    def wait_for(self, *needles: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            if self.exit_status() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {needles} on screen:\n{self.text()}")

    def hang_up(self) -> None:
        """Close the terminal's master side, as a dropped SSH connection does: the kernel
        sends SIGHUP to the session and the line reads EOF/EIO from then on. The reader stops
        first: an idle console writes nothing that would end a read holding the master open."""
        self.reading.clear()
        self.pump.join()
        os.close(self.fd)
        self.fd = -1

    def press(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_status(self) -> int | None:
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        self.pid = -1
        return os.waitstatus_to_exitcode(status)

    def wait_exit(self, timeout: float) -> tuple[int | None, float]:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.pid == -1:
                return 0, time.monotonic() - start
            status = self.exit_status()
            if status is not None:
                return status, time.monotonic() - start
            time.sleep(0.02)
        return None, time.monotonic() - start


@contextmanager
def terminal(*args: str, env: dict[str, str]) -> Iterator[Terminal]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.execvpe(sys.executable, [sys.executable, "-m", "console.cli", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    term = Terminal(pid, fd)
    try:
        yield term
    finally:
        if term.pid > 0 and term.exit_status() is None:
            os.killpg(term.pid, signal.SIGKILL)
            os.waitpid(term.pid, 0)
        if term.fd >= 0:
            os.close(term.fd)


def terminal_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "VITE_", "GITHUB"))}
    env.pop("DATABASE_URL", None)
    env.update(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES), **extra)
    return env
