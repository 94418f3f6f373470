"""`backfill-console demo`: everything real, on this machine, in a minute or two.

An embedded Postgres in its own directory, the GitHub simulator (as its own process) with
repositories of different sizes and a budget small enough to run out, real worker processes,
and one worker SIGKILLed mid-chunk so recovery has something to do. No textual here: the
console shows what this script does through the `report` callback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.local_workers import LocalWorkers
from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.config import Settings, load_settings
from core.embedded import stop_embedded
from core.processes import process_identity
from core.recovery import recover
from core.simulator.process import simulator_process
from core.store import open_store
from core.store.store import Store

REPOSITORIES = ("demo/tiny:40", "demo/docs:350", "demo/api:2500", "demo/web:8000")
TOKEN = "demo-token-for-the-local-simulator"


class Watchdog:
    """A small process that outlives the demo only to clean up after it: children die with
    their parent, a SIGKILLed demo included (no handler of the demo's runs then).

    The demo holds the only write end of a pipe whose read end is the watchdog's stdin, and
    writes `<pid> <identity>` for every child it starts. When the demo ends, however it
    ends, the kernel closes that end; the watchdog reads EOF, SIGKILLs each child that is
    still the very process started (pid and start time: never a recycled pid), stops the
    demo's embedded Postgres and deletes its data (unless --keep). It is in its own session
    (Ctrl-C in the terminal is for the console) and ignores SIGINT/SIGTERM/SIGHUP.
    Threads do not matter here (PR_SET_PDEATHSIG would fire when the starting *thread* ends,
    and the demo starts workers from several)."""

    def __init__(self, data_dir: Path, *, keep: bool) -> None:
        read, self._write = os.pipe()  # both non-inheritable: no other child holds the end
        code = "import sys; from console.demo import watch; watch(sys.argv[1], sys.argv[2])"
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-c", code, str(data_dir), "keep" if keep else "delete"],
            stdin=read,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(read)
        self._lock = threading.Lock()

    def adopt(self, pid: int) -> None:
        """Kill `pid` (as it is now: pid and start time) when the demo ends."""
        line = f"{pid} {process_identity(pid)}\n".encode()
        # The watchdog gone (OSError): nothing better to do than go on.
        with self._lock, suppress(OSError):
            os.write(self._write, line)


def watch(data_dir: str, keep: str) -> None:
    """The watchdog's body (see `Watchdog`): wait for the demo to end, then clean up."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    children = sys.stdin.buffer.read().decode().split("\n")  # returns at the demo's end
    for line in children:
        pid_text, _, identity = line.partition(" ")
        if pid_text.isdigit() and identity and process_identity(int(pid_text)) == identity:
            with suppress(OSError):
                os.kill(int(pid_text), signal.SIGKILL)
    stop_embedded(Path(data_dir))
    if keep != "keep":
        shutil.rmtree(data_dir, ignore_errors=True)


class DemoWorkers(LocalWorkers):
    """The demo's worker processes: each one adopted by the watchdog as it starts."""

    def __init__(self, watchdog: Watchdog, log_dir: Path, **kwargs: Any) -> None:
        super().__init__(log_dir, **kwargs)
        self.watchdog = watchdog

    def start(self) -> str:
        worker_id = super().start()
        self.watchdog.adopt(self.started[-1][1].pid)
        return worker_id


@dataclass(frozen=True)
class DemoConfig:
    data_dir: Path
    workers: int = 2
    budget: int = 100  # points per window: small enough that the backfill has to wait
    window_seconds: int = 40
    stuck_minutes: int = 1  # the smallest threshold recovery takes


@contextmanager
def simulator(config: DemoConfig, watchdog: Watchdog | None = None) -> Iterator[str]:
    """The simulator as a separate process (its CPU never slows the console); yields its URL."""
    options = ["--seed", "1", "--limit", str(config.budget)]
    options += ["--window-seconds", str(config.window_seconds), "--latency-ms", "15"]
    with simulator_process(REPOSITORIES, *options) as (url, process):
        if watchdog is not None:
            watchdog.adopt(process.pid)
        yield url


def environment(config: DemoConfig, simulator_url: str) -> dict[str, str]:
    """The worker processes' environment: the embedded database and the simulator only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "SUPABASE", "VITE_SUPABASE", "GITHUB_"))
    }
    env.update(
        BACKFILL_DATA_DIR=str(config.data_dir),
        BACKFILL_ALLOW_EMBEDDED="1",  # throwaway data is the point here, in CI too
        GITHUB_TOKEN=TOKEN,
        GITHUB_GRAPHQL_URL=f"{simulator_url}/graphql",
        MIN_GRAPHQL_POINTS="10",
        CHUNK_RECOVERY_MINUTES=str(config.stuck_minutes),
    )
    return env


def settings_for(env: dict[str, str]) -> Settings:
    # Explicit Nones: a DATABASE_URL or Supabase project in the user's environment must
    # never receive demo data.
    return load_settings(
        _env_file=None,
        database_url=None,
        supabase_url=None,
        supabase_service_key=None,
        github_token=env["GITHUB_TOKEN"],
        github_graphql_url=env["GITHUB_GRAPHQL_URL"],
        min_graphql_points=int(env["MIN_GRAPHQL_POINTS"]),
        chunk_recovery_minutes=int(env["CHUNK_RECOVERY_MINUTES"]),
        data_dir=env["BACKFILL_DATA_DIR"],
    )


async def register(settings: Settings) -> list[str]:
    """Start the embedded database, migrate it and add the simulated repositories."""
    names = [repo.split(":")[0] for repo in REPOSITORIES]
    async with open_engine(settings) as engine:
        results = await add_repositories(engine.store, engine.client, names)
    return [f"{r.repository}: {r.outcome} ({r.total_prs:,} PRs)" for r in results]


class DemoScript:
    """Runs beside the console: starts the workers, kills one mid-chunk, then recovers its
    chunk once it counts as stuck. Its own thread and event loop; reports as it goes."""

    def __init__(self, config: DemoConfig, settings: Settings, workers: LocalWorkers) -> None:
        self.config = config
        self.settings = settings
        self.workers = workers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, report: Callable[[str], None]) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run(report)), name="demo", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.workers.stop_all(kill=True)  # the demo's data is deleted on exit anyway
        if self._thread is not None:
            self._thread.join(1)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the demo is stopping; False when it is."""
        return not await asyncio.to_thread(self._stop.wait, seconds)

    async def _run(self, report: Callable[[str], None]) -> None:
        c = self.config
        report(
            f"demo: simulated GitHub with {len(REPOSITORIES)} repositories and a budget of "
            f"{c.budget} points per {c.window_seconds}s, so the workers will have to wait"
        )
        for _ in range(c.workers):
            self.workers.start()
        doomed = self.workers.start()
        report(f"demo: started {c.workers + 1} worker processes; {doomed} will be SIGKILLed")
        async with open_store(self.settings) as store:
            if not await self._kill_mid_chunk(store, doomed, report):
                return
            while await self._sleep(2):
                stuck = await store.stuck_chunks(c.stuck_minutes)
                if stuck:
                    break
            else:
                return
            report(
                f"demo: {stuck[0].repository} chunk #{stuck[0].chunk_number} is stuck; "
                "recovering it in 10 s (press d to see the plan first)"
            )
            if not await self._sleep(10):
                return
            result = await recover(store, stuck_minutes=c.stuck_minutes, dry_run=False)
            for chunk in result.chunks:
                report(
                    f"demo: recovery {chunk.outcome} to {chunk.repository} #{chunk.chunk_number}:"
                    f" {chunk.decision} ({chunk.reason})"
                )

    async def _kill_mid_chunk(
        self, store: Store, doomed: str, report: Callable[[str], None]
    ) -> bool:
        # Every chunk in flight (threshold 0) until one is the doomed worker's.
        while await self._sleep(0.05):
            chunks = [c for c in await store.stuck_chunks(0) if c.worker_id == doomed]
            if chunks:
                break
        else:
            return False
        for worker_id, process in self.workers.started:
            if worker_id == doomed:
                process.send_signal(signal.SIGKILL)
                self.workers.started.remove((worker_id, process))
                break
        report(
            f"demo: SIGKILLed {doomed} in the middle of {chunks[0].repository} chunk "
            f"#{chunks[0].chunk_number}; the chunk stays 'processing' until it counts as stuck "
            f"({self.config.stuck_minutes} min) and recovery settles it"
        )
        return True
