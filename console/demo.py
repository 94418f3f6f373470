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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from console.local_workers import LocalWorkers
from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.config import Settings, load_settings
from core.embedded import stop_embedded
from core.processes import process_identity
from core.recovery import recover
from core.simulator.process import simulator_process
from core.simulator.simulator import TRUTH_PATH
from core.store import open_store
from core.store.models import BackfillProgress, StuckChunk
from core.store.store import Store

REPOSITORIES = ("demo/tiny:40", "demo/docs:350", "demo/api:2500", "demo/web:8000")
# Workers started to be killed mid-chunk before the demo gives up (one whose chunk commits
# between the look and the SIGKILL leaves nothing stuck: another one is tried).
KILL_ATTEMPTS = 5
# How long past `stuck_minutes` the demo waits for the killed chunk to count as stuck.
STUCK_GRACE_SECONDS = 120
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
    workers: int = 2  # started after the kill, to finish the backfill; the doomed one too
    budget: int = 100  # points per window: small enough that the backfill has to wait
    window_seconds: int = 40
    stuck_minutes: int = 1  # the smallest threshold recovery takes
    # Simulated GitHub's answer time. A chunk is one page committed in one transaction, so a
    # worker is mid-chunk only while a page is on its way: long enough to be caught there.
    latency_ms: int = 400
    countdown_seconds: int = 10  # between "stuck" and recovery: time to press d
    repositories: tuple[str, ...] = REPOSITORIES  # OWNER/NAME:PRS, as the simulator takes them

    @property
    def github_counts(self) -> dict[str, int]:
        """Repository -> its PR count on (simulated) GitHub."""
        return {name: int(prs) for name, _, prs in (r.rpartition(":") for r in self.repositories)}


@contextmanager
def simulator(config: DemoConfig, watchdog: Watchdog | None = None) -> Iterator[str]:
    """The simulator as a separate process (its CPU never slows the console); yields its URL."""
    options = ["--seed", "1", "--limit", str(config.budget)]
    options += [
        "--window-seconds",
        str(config.window_seconds),
        "--latency-ms",
        str(config.latency_ms),
    ]
    with simulator_process(config.repositories, *options) as (url, process):
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


async def register(settings: Settings, config: DemoConfig) -> list[str]:
    """Start the embedded database, migrate it and add the simulated repositories."""
    names = list(config.github_counts)
    async with open_engine(settings) as engine:
        results = await add_repositories(engine.store, engine.client, names)
    return [f"{r.repository}: {r.outcome} ({r.total_prs:,} PRs)" for r in results]


@dataclass
class Story:
    """What the demo did, step by step (None: not yet); what its summary line and its test
    read."""

    doomed: str = ""
    killed_repository: str | None = None  # the doomed worker's lease, held when it was killed
    killed_chunk: int | None = None
    killed_chunk_id: UUID | None = None  # known once the chunk is seen stuck
    killed_backfill: UUID | None = None
    killed_stored: int = 0  # PRs of that backfill stored (its pages committed) at the kill
    lease_held: bool = False  # the backfill was leased by the doomed worker at the kill
    stuck_seen: bool = False  # recovery_plan() listed the killed chunk as stuck
    recovered: list[str] = field(default_factory=list)  # recovery's decision for the chunk
    settled: bool = False  # the killed chunk no longer 'processing' after recovery
    # Repository -> its rows in pull_requests, counted in the database at the end (not the
    # backfill's own count of what it stored: the rows are what a user gets).
    stored: dict[str, int] = field(default_factory=dict)
    # Repository -> the PRs simulated GitHub holds, from its ground truth (/_sim/truth) at
    # the end; empty until read.
    github: dict[str, int] = field(default_factory=dict)
    completed: bool = False  # every backfill 'completed'

    @property
    def exact(self) -> bool:
        return self.completed and bool(self.github) and self.stored == self.github

    def summary(self) -> str:
        """One event line: the whole story, or as far as it went."""
        total = self.killed_chunk or 0
        parts = [
            f"demo: what happened: SIGKILLed {self.doomed} holding "
            f"chunk #{total} of {self.killed_repository} ({self.killed_stored:,} PRs stored)"
        ]
        parts.append("stuck" if self.stuck_seen else "never seen stuck")
        parts.append(
            f"recovered ({', '.join(self.recovered)})" if self.settled else "not recovered"
        )
        stored, github = sum(self.stored.values()), sum(self.github.values())
        if self.exact:
            parts.append(
                f"all {len(self.github)} completed exactly: {stored:,} PR rows stored = "
                f"GitHub's {github:,} PRs"
            )
        else:
            parts.append(f"NOT exact: {stored:,} PR rows stored, GitHub has {github:,} PRs")
        return " → ".join(parts)


class DemoScript:
    """Runs beside the console and tells one story every run, however fast the machine: the
    doomed worker starts alone (a head start, so it holds work of its own), is SIGKILLed once
    it holds a lease on a chunk with pages stored, then the other workers start; the chunk
    counts as stuck after `stuck_minutes`, recovery settles it after a visible countdown, the
    backfill completes, and one summary line says what happened (`story`). Its own thread
    and event loop; reports as it goes. No textual: `run` is testable headless."""

    def __init__(self, config: DemoConfig, settings: Settings, workers: LocalWorkers) -> None:
        self.config = config
        self.settings = settings
        self.workers = workers
        self.story = Story()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, report: Callable[[str], None]) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.run(report)), name="demo", daemon=True
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

    async def run(self, report: Callable[[str], None]) -> bool:
        """The whole script; True when every step happened (False: stopped on the way)."""
        c = self.config
        report(
            f"demo: simulated GitHub with {len(c.repositories)} repositories and a budget of "
            f"{c.budget} points per {c.window_seconds}s, so the workers will have to wait"
        )
        self.story.doomed = doomed = self.workers.start()
        report(f"demo: started {doomed} alone; it will be SIGKILLed in the middle of a chunk")
        async with open_store(self.settings) as store:
            if not await self._kill_mid_chunk(store, doomed, report):
                return False
            for _ in range(c.workers):
                self.workers.start()
            report(f"demo: started {c.workers} more worker processes to finish the backfill")
            if not await self._recover(store, report):
                return False
            if not await self._complete(store):
                return False
        report(self.story.summary())
        return True

    async def _kill_mid_chunk(
        self, store: Store, doomed: str, report: Callable[[str], None]
    ) -> bool:
        """SIGKILL the doomed worker while it holds a chunk with pages of its backfill
        stored, and decide from the database afterwards whether it did: a chunk can commit
        between the look and the kill, and then nothing is left 'processing' to be stuck.
        Such a miss starts a new doomed worker and tries again, `KILL_ATTEMPTS` times in
        all; False when stopped or out of attempts (said in the log)."""
        for attempt in range(1, KILL_ATTEMPTS + 1):
            held = await self._held_mid_chunk(store, doomed)
            if held is None:
                return False
            self._sigkill(doomed)
            # What the kill left: the doomed worker's chunk still 'processing', read after
            # its process is gone (nothing can commit it any more). Not `stuck_chunks`: its
            # lease is still live, so it is not stuck yet.
            detail = await store.backfill_detail(held.backfill_state_id)
            left = [
                c
                for c in (detail.chunks if detail is not None else [])
                if c.status == "processing" and c.worker_id == doomed
            ]
            if left:
                s = self.story
                s.doomed, s.lease_held = doomed, True
                s.killed_repository, s.killed_chunk = held.repository, left[0].chunk_number
                s.killed_backfill, s.killed_stored = held.backfill_state_id, held.processed_prs
                report(
                    f"demo: SIGKILLed {doomed} in the middle of {s.killed_repository} chunk "
                    f"#{s.killed_chunk} ({held.processed_prs:,} PRs of the repository stored "
                    "before it); "
                    f"the chunk stays 'processing' until it counts as stuck "
                    f"({self.config.stuck_minutes} min) and recovery settles it"
                )
                return True
            report(
                f"demo: {doomed}'s chunk committed just before the SIGKILL "
                f"(attempt {attempt} of {KILL_ATTEMPTS}); starting another worker to kill"
            )
            self.story.doomed = doomed = self.workers.start()
        report(f"demo: no worker was caught mid-chunk in {KILL_ATTEMPTS} attempts")
        return False

    async def _held_mid_chunk(self, store: Store, doomed: str) -> BackfillProgress | None:
        """Wait until `doomed` holds a lease on a backfill with pages stored and a chunk (one
        page) of it in flight: one read, so the three are seen together. None: stopped."""
        while await self._sleep(0.1):
            for p in await store.backfill_progress():
                if p.leased_by == doomed and p.processed_prs > 0 and p.chunks_processing > 0:
                    return p
        return None

    def _sigkill(self, worker_id: str) -> None:
        for started_id, process in self.workers.started:
            if started_id == worker_id:
                process.send_signal(signal.SIGKILL)
                process.wait()
                self.workers.started.remove((started_id, process))
                return

    async def _recover(self, store: Store, report: Callable[[str], None]) -> bool:
        """Wait for the killed chunk to count as stuck (bounded: `stuck_minutes` and
        `STUCK_GRACE_SECONDS`), show the countdown, recover live and check that the chunk
        is settled. False when stopped, or when it was never seen stuck (said in the log)."""
        c, s = self.config, self.story
        deadline = c.stuck_minutes * 60 + STUCK_GRACE_SECONDS
        waited = 0.0
        stuck: list[StuckChunk] = []
        every: list[StuckChunk] = []
        while not stuck:
            if waited >= deadline:
                report(
                    f"demo: {s.killed_repository} chunk #{s.killed_chunk} was not seen stuck "
                    f"within {deadline:.0f} s; no recovery ran"
                )
                return False
            if not await self._sleep(2):
                return False
            waited += 2
            every = await store.stuck_chunks(c.stuck_minutes)
            stuck = [
                x
                for x in every
                if x.backfill_state_id == s.killed_backfill and x.chunk_number == s.killed_chunk
            ]
        s.stuck_seen, s.killed_chunk_id = True, stuck[0].chunk_id
        # The killed worker may have held a chunk in each of its slots: recovery settles all.
        others = [x for x in every if x.chunk_id != s.killed_chunk_id]
        also = (
            f"; also stuck: {', '.join(f'{x.repository} #{x.chunk_number}' for x in others)}"
            if others
            else ""
        )
        report(
            f"demo: {s.killed_repository} chunk #{s.killed_chunk} is stuck "
            f"({stuck[0].decision} planned: {stuck[0].reason}){also}; press d to see the plan"
        )
        what = (
            f"{len(others) + 1} stuck chunks"
            if others
            else f"{s.killed_repository} chunk #{s.killed_chunk}"
        )
        for left in range(c.countdown_seconds, 0, -1):
            if left == c.countdown_seconds or left % 5 == 0 or left <= 3:
                report(f"demo: recovering {what} in {left} s")
            if not await self._sleep(1):
                return False
        result = await recover(store, stuck_minutes=c.stuck_minutes, dry_run=False)
        for chunk in result.chunks:
            report(
                f"demo: recovery {chunk.outcome} to {chunk.repository} #{chunk.chunk_number}:"
                f" {chunk.decision} ({chunk.reason})"
            )
            if chunk.chunk_id == s.killed_chunk_id:
                s.recovered.append(chunk.decision)
        in_flight = {x.chunk_id for x in await store.stuck_chunks(0)}
        s.settled = bool(s.recovered) and s.killed_chunk_id not in in_flight
        return True

    async def _complete(self, store: Store) -> bool:
        """Wait for every backfill to complete; then count each repository's rows in
        pull_requests and read what simulated GitHub holds, for the exact-completion check."""
        s = self.story
        while await self._sleep(1):
            progress = await store.backfill_progress()
            if progress and all(p.status == "completed" for p in progress):
                s.completed = True
                names = {p.repository_id: p.repository for p in progress}
                s.stored = {
                    names[c.repository_id]: c.pull_requests
                    for c in await store.data_counts()
                    if c.repository_id in names
                }
                s.github = await asyncio.to_thread(self._github_truth, list(names.values()))
                return True
        return False

    def _github_truth(self, repositories: list[str]) -> dict[str, int]:
        """Repository -> its PRs on simulated GitHub, from the simulator's ground truth
        (GET /_sim/truth?repo=OWNER/NAME: every PR it holds now). Raises httpx.HTTPError when
        the simulator does not answer."""
        base = self.settings.github_graphql_url.removesuffix("/graphql")
        counts = {}
        with httpx.Client(base_url=base, timeout=30) as client:
            for name in repositories:
                answer = client.get(TRUTH_PATH, params={"repo": name})
                answer.raise_for_status()
                counts[name] = len(answer.json()["pull_requests"])
        return counts
