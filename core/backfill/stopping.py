"""When a worker stops, and why: a stop request, --max-runtime, or abandoning the work.

A stop lets the page in hand finish within STOP_GRACE_SECONDS; the deadline (or the grace
running out) interrupts whatever waits on GitHub, so cron, systemd or Actions see the process
end in bounded time. The first reason given is what every chunk cut short records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TypeVar

from core.backfill.reasons import first_line

T = TypeVar("T")

# After a stop request, seconds the page in hand has to finish before a wait on GitHub (a
# reset, a backoff, the server-time pacer) is cut short: the page is fetched again later, and
# a SIGTERM from cron, systemd or Actions ends the process in bounded time.
STOP_GRACE_SECONDS = 10.0


class Interrupted(Exception):
    """--max-runtime came, or a stop's grace ran out, while waiting on GitHub."""


class Stopping:
    """The worker's stop request, its deadline and the reason, shared by every slot."""

    def __init__(self, max_runtime: float | None) -> None:
        self._stop = asyncio.Event()
        self._interrupt = asyncio.Event()  # the deadline: ends waits and backoffs too
        self.because: str | None = None  # the first reason to stop (see `stop`)
        self.abandoned = False
        self.deadline = time.monotonic() + max_runtime if max_runtime else None
        # What an abandon cancels: the worker's slots.
        self.tasks: list[asyncio.Task[None]] = []

    def stop(self, *, abandon: bool = False, reason: str | None = None) -> None:
        """First call: finish the page in hand (within STOP_GRACE_SECONDS), then exit.
        `abandon`: stop at once. `reason`: why, recorded on every chunk the stop cuts short
        (the first reason given is kept: the cause, not what followed from it)."""
        if reason and self.because is None:
            self.because = reason
        if not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # no loop running: nothing is waiting
                asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, self._interrupt.set)
        self._stop.set()
        if abandon and not self.abandoned:
            # Once: a second cancellation would cut short what the first one lets finish (a
            # chunk recording why it was cut short, the lease's release).
            self.abandoned = True
            self._interrupt.set()
            for task in self.tasks:
                task.cancel()

    def requested(self) -> bool:
        """Whether the worker is stopping (asked to, or past its deadline)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self._deadline_reached()
        return self._stop.is_set()

    def _deadline_reached(self) -> None:
        if self.because is None:
            self.because = "--max-runtime reached"
        self._stop.set()
        self._interrupt.set()

    def cut_short(self, exc: BaseException | None = None) -> str:
        """What a chunk that ends unstored because the worker stops records (on the chunk and
        the backfill's last_error, where `stats` and the console read it): the failure or
        request that stopped the worker, else the error that ended the work on it."""
        why = self.because
        if why is None and exc is not None and not isinstance(exc, asyncio.CancelledError):
            why = f"{type(exc).__name__}: {first_line(exc)}"
        return f"worker stopped before the page was stored: {why or 'asked to stop'}"[:1000]

    async def watch_deadline(self) -> None:
        """At --max-runtime: stop, and interrupt whatever is waiting on GitHub (a reset, a
        secondary-limit backoff, a slow answer) so the process ends on time."""
        if self.deadline is None:
            return
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        self._deadline_reached()

    async def interruptible(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless the deadline comes first (then `Interrupted`)."""
        task = asyncio.ensure_future(awaitable)
        if self._interrupt.is_set():
            task.cancel()
        else:
            stopper = asyncio.create_task(self._interrupt.wait())
            try:
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:  # cancelled (abandon, quit): take the fetch down with it
                task.cancel()
                raise
            finally:
                stopper.cancel()
            if task.done():
                return task.result()
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise Interrupted

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up for a stop request."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
