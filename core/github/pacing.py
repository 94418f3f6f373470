"""Pacing by GitHub's server time: the limit that binds a backfill before its points do.

GitHub allows about 60 s of GraphQL server time per 60 s of real time per account, and asks
clients to estimate it by the total response time of their requests. `ServerTimePacer` keeps
a sliding window (`GITHUB_SERVER_TIME_WINDOW`, 60 s) of the response times of one token's
requests, shared by every worker of the process, and lets a request go only while the
window's total (finished requests and the estimates of those in flight) stays within the
budget (`GITHUB_SERVER_TIME_BUDGET`, by default 90% of the window). Requests are counted from
the moment they start, as GitHub judges them, so the budget is never crossed in steady state.

Every process on one token shares that budget through a `ServerTimeLedger` (the database's
`reserve_server_time`, migration 20250180000000): each request reserves its estimate there
atomically before it is sent, and settles it with the measured time when its answer is in.
So the server time admitted and in flight within any window, summed over every process on
the token, stays within the budget by construction; figures published after the fact (what
an earlier version paced by) are a moment old and miss what the others just started, and two
processes on them passed the budget together (58.9 s in a minute against 54).

It also keeps what the monitoring shows per token: server time used in the window against
the budget, answers over the target response time, GitHub's timeouts (502/504) and secondary
limits, and PRs delivered, over the last hour (sixty windows: a time-scaled run scales it).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from core.errors import side_failure_level

log = logging.getLogger("core.github")

GITHUB_WINDOW_SECONDS = 60.0  # GitHub's: 60 s of server time per 60 s
DEFAULT_BUDGET_SHARE = 0.9  # of the window, when GITHUB_SERVER_TIME_BUDGET is not set
GITHUB_KILL_SECONDS = 10.0  # GitHub kills a query after 10 s (502/504)
# Aim for answers well under the kill: 5 s on GitHub's scale. (7 s kept rich 37-PR pages
# that carry follow-ups whole and made a run ~7% faster, but larger answers are estimated
# less closely: two processes on one token then passed the shared budget by 3.5-5 s of a
# minute, against 0-1.4 s at 5 s.)
TARGET_SHARE_OF_KILL = 0.5
RECENT = 8  # answers of a similar size whose rates set the estimate of the next one
# Which of those rates: the upper quartile, not the highest. Measured times carry noise that is
# not GitHub's (this process's event loop busy with another page, a loaded machine): with the
# highest of 8, one slow answer set the estimate of the next eight, estimates ran 45% above
# the measured time at the median (bench_pacing, 4,000 PRs with threads) and requests in
# flight held that room unused. The upper quartile is over by 20% and under by 10% of the
# measured time (the same run's answers, re-estimated), and an answer slower than its
# estimate counts its elapsed time in the ledger from then on.
ESTIMATE_QUARTILE = 3  # the third of `statistics.quantiles(n=4)`'s cut points
KEPT = 16  # answers remembered, of every size, to find RECENT of a size like the next one
SIMILAR = 2  # answers of a similar size: at most this many times smaller or larger


@dataclass(frozen=True)
class PacingSnapshot:
    """One token's server time as one process sees it (seconds on the pacing clock)."""

    used_seconds: float  # in the current window: finished + in flight (this process)
    budget_seconds: float
    window_seconds: float
    target_seconds: float
    over_target: int  # answers slower than the target, last hour
    timeouts: int  # GitHub's 502/504 (killed at 10 s), last hour
    secondary: int  # secondary-limit answers, last hour
    prs: int  # PRs delivered in pages, last hour
    prs_per_hour: float
    remote_seconds: float  # other processes on the token, as they last published


class ServerTimeLedger(Protocol):
    """The token's server-time budget shared by every process (in practice the database)."""

    async def reserve(
        self, seconds: float, *, window: float, budget: float, kill: float
    ) -> tuple[int | None, float]:
        """Take `seconds` of the budget for one request about to be sent: (reservation, 0),
        or (None, seconds to wait before asking again) when it does not fit. Atomic across
        processes: the server time admitted and in flight within any `window` stays within
        `budget` (in-flight requests count at least their elapsed time, at most `kill`)."""
        ...

    async def settle(self, reservation: int, seconds: float) -> None:
        """The request's measured response time replaces its estimate."""
        ...


class ServerTimePacer:
    def __init__(
        self,
        window: float = GITHUB_WINDOW_SECONDS,
        budget: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        ledger: ServerTimeLedger | None = None,
    ) -> None:
        if not window > 0:
            raise ValueError("the server-time window must be greater than 0")
        self.window = window
        self.budget = budget if budget is not None else DEFAULT_BUDGET_SHARE * window
        if not self.budget > 0:
            raise ValueError("the server-time budget must be greater than 0")
        # GitHub's numbers, on the same scale as the window (a time-scaled run scales both).
        self.scale = window / GITHUB_WINDOW_SECONDS
        self.kill = GITHUB_KILL_SECONDS * self.scale
        self.target = TARGET_SHARE_OF_KILL * self.kill
        self.ledger = ledger
        self._reservations: dict[int, int] = {}  # ticket -> the ledger's reservation
        # Answers whose settlement the ledger did not take (a database blip): reservation ->
        # (measured seconds, when). Retried on each ledger call until their window has passed.
        self._unsettled: dict[int, tuple[float, float]] = {}
        self.hour = 60 * window
        self._clock = clock
        self._sleep = sleep
        self._done: deque[tuple[float, float]] = deque()  # (started, seconds)
        self._in_flight: dict[int, float] = {}  # ticket -> started
        self._estimates: dict[int, float] = {}
        self._recent: deque[tuple[float, int]] = deque(maxlen=KEPT)  # (seconds, size)
        self._sizes: dict[int, int] = {}  # ticket -> size of its request
        self._tickets = itertools.count()
        self._remote = 0.0
        self._remote_at: float | None = None
        self._remote_processes = 0
        self._started = clock()
        self._events: dict[str, deque[tuple[float, int]]] = {
            k: deque() for k in ("over_target", "timeouts", "secondary", "prs")
        }
        self.waited_seconds = 0.0  # time requests spent held back by the budget
        self._released: asyncio.Event | None = None  # set when an answer of ours is in
        self._ledger_down = False

    # -- the budget ----------------------------------------------------------------------

    def estimate(self, size: int = 0) -> float:
        """What the next answer will likely take, on the pacing clock (seconds).

        `size` is the request's node count as the cost rule bounds it (0: unknown). An answer
        takes a fixed part (GitHub's per-request work and the round trip: the fastest recent
        answer) plus a part that grows with its nodes; the rate of that part is the upper
        quartile (ESTIMATE_QUARTILE) of the last RECENT answers of a similar size (within a
        factor SIMILAR: a PR page is not a reviews follow-up, whose nodes are denser). With
        none of a similar size, the slowest larger answer, or the target (a small query's time
        says little of a page's).
        A rate per size, not the slowest time of any size: follow-ups estimated at a page's
        time held room they never used (estimates were 40% above the measured times in a
        two-process run), and a larger page after small ones was admitted on their time."""
        recent = list(self._recent)
        if size <= 0 or not recent:
            times = [seconds for seconds, _ in recent][-RECENT:]
            return max(times) if times else self.target
        fixed = min(seconds for seconds, _ in recent)
        rates = [
            (seconds - fixed) / max(1, seen)
            for seconds, seen in recent
            if seen * SIMILAR >= size and seen <= size * SIMILAR
        ][-RECENT:]
        if rates:
            upper = (
                statistics.quantiles(rates, n=4, method="inclusive")[ESTIMATE_QUARTILE - 1]
                if len(rates) > 1
                else rates[0]
            )
            return fixed + upper * size
        larger = [seconds for seconds, seen in recent if seen >= size][-RECENT:]
        return max(larger) if larger else self.target

    def _prune(self, now: float) -> None:
        while self._done and self._done[0][0] <= now - self.window:
            self._done.popleft()

    def used(self, now: float | None = None) -> float:
        """This process's server time in the window: finished requests and the estimates (or
        the elapsed time, if longer) of those in flight."""
        now = self._clock() if now is None else now
        self._prune(now)
        done = sum(seconds for _, seconds in self._done)
        flying = sum(
            max(self._estimates[t], now - started) for t, started in self._in_flight.items()
        )
        return done + flying

    def remote(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        if self._remote_at is None or now - self._remote_at > self.window:
            return 0.0
        return self._remote

    def observe_remote(self, seconds: float, processes: int = 1) -> None:
        """What the other processes on this token published (their windows, summed)."""
        self._remote = max(0.0, seconds)
        self._remote_processes = processes if seconds > 0 else 0
        self._remote_at = self._clock()

    def _reserve(self, now: float, estimate: float) -> float:
        """Room kept for the others: each may start one request on a figure of ours a moment
        old, as we may on theirs, so one request's worth per other process stays free."""
        if self.remote(now) <= 0:
            return 0.0
        return estimate * self._remote_processes

    async def acquire(self, size: int = 0) -> int:
        """Wait until one more request (of `size` nodes, see `estimate`) fits in the window's
        budget; returns its ticket.

        This process's own view is checked first (no round trip while it is plainly full);
        then, with a ledger, the token's shared budget decides: its answer is final, and a
        ledger that cannot be reached leaves this process pacing on its own view (logged)."""
        estimate = self.estimate(size)
        waited_from = self._clock()
        reservation: int | None = None
        while True:
            now = self._clock()
            wait = self._local_wait(now, estimate)
            if wait is None and self.ledger is not None:
                try:
                    await self._settle_unsettled()
                    reservation, wait = await self.ledger.reserve(
                        estimate, window=self.window, budget=self.budget, kill=self.kill
                    )
                except Exception as exc:  # a database blip must not stop the backfill
                    if not self._ledger_down:  # said once per outage, not per request
                        log.log(
                            side_failure_level(exc),
                            "server-time ledger unreachable (%s): pacing on this process's view",
                            type(exc).__name__,
                        )
                    self._ledger_down = True
                    reservation, wait = None, None
                else:
                    self._ledger_down = False
                if reservation is not None:
                    wait = None
            if wait is None:
                break
            await self._hold(max(wait, 1e-3))
        self.waited_seconds += self._clock() - waited_from
        ticket = next(self._tickets)
        self._in_flight[ticket] = self._clock()
        self._estimates[ticket] = estimate
        self._sizes[ticket] = size
        if reservation is not None:
            self._reservations[ticket] = reservation
        return ticket

    async def _hold(self, seconds: float) -> None:
        """Sleep `seconds`, or less if one of this process's answers comes in meanwhile: an
        answer settled below its estimate frees room at once (polling instead left room
        unused for up to a poll interval each time; at --time-scale 20 that was a tenth of
        the budget)."""
        if self._released is None:
            self._released = asyncio.Event()
        released = asyncio.ensure_future(self._released.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((released, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (released, slept):
                task.cancel()

    def _local_wait(self, now: float, estimate: float) -> float | None:
        """None if this process's view leaves room for `estimate`, else how long to wait."""
        used = self.used(now)
        if self.ledger is None:  # no shared ledger: other processes' published figures
            used += self.remote(now) + self._reserve(now, estimate)
        if used + estimate <= self.budget or (not self._in_flight and used <= 0):
            return None
        # The soonest a finished request leaves the window, or a short poll (answers in
        # flight finish, other processes' figures change).
        poll = self.window / 60
        if self._done:
            poll = min(poll, max(0.0, self._done[0][0] + self.window - now) + 1e-3)
        return poll

    def release(self, ticket: int) -> float:
        """The request is answered (or failed): its measured response time counts from its
        start to its last byte, as GitHub advises. Returns the measured seconds. (`finish`
        also settles it in the ledger.) Timing to the headers instead was tried: closer to
        the simulator's server time at --time-scale 20 (reading the body there is this
        process's work, not GitHub's), but the margin it removed was what absorbed answers
        slower than their estimate: one process then passed the budget by 2.2 s of a minute.
        """
        started = self._in_flight.pop(ticket)
        self._estimates.pop(ticket, None)
        seconds = max(0.0, self._clock() - started)
        self._done.append((started, seconds))
        self._recent.append((seconds, self._sizes.pop(ticket, 0)))
        if seconds > self.target:
            self.count("over_target")
        return seconds

    async def finish(self, ticket: int) -> float:
        """`release`, and the measured time replaces the estimate in the shared ledger."""
        seconds = self.release(ticket)
        reservation = self._reservations.pop(ticket, None)
        if reservation is not None and self.ledger is not None:
            self._unsettled[reservation] = (seconds, self._clock())
            try:
                await self._settle_unsettled()
            except Exception as exc:  # kept, and tried again on the next ledger call
                log.log(
                    side_failure_level(exc),
                    "server-time ledger: settling failed (%s)",
                    type(exc).__name__,
                )
        if self._released is not None:  # wake the requests waiting for room, once
            self._released.set()
            self._released = None
        return seconds

    async def _settle_unsettled(self) -> None:
        """Settle every answer the ledger has not taken yet (idempotent in SQL: a reservation
        settles once). An unsettled reservation counts as still running, up to GitHub's kill
        time, for a whole window: after a database blip, a few of them filled the budget and
        stalled every process on the token for a minute. Raises what the ledger raises.

        Each entry is taken out before its settlement is awaited, and put back if that fails:
        the slots of a process share its pacer, and two calls at once each settled the same
        entry and then deleted it, the second finding it gone (KeyError): an answer stayed
        unsettled and a request went out with no reservation."""
        assert self.ledger is not None
        now = self._clock()
        for reservation in list(self._unsettled):
            entry = self._unsettled.pop(reservation, None)
            if entry is None:  # another call of this process is settling it
                continue
            seconds, at = entry
            if at <= now - self.window:  # it has left the window: nothing to correct
                continue
            try:
                await self.ledger.settle(reservation, seconds)
            except BaseException:
                self._unsettled.setdefault(reservation, entry)  # tried again on the next call
                raise

    # -- monitoring ----------------------------------------------------------------------

    def count(self, kind: str, n: int = 1) -> None:
        now = self._clock()
        events = self._events[kind]
        events.append((now, n))
        while events and events[0][0] <= now - self.hour:
            events.popleft()

    def _last_hour(self, kind: str, now: float) -> int:
        return sum(n for at, n in self._events[kind] if at > now - self.hour)

    def snapshot(self) -> PacingSnapshot:
        now = self._clock()
        prs = self._last_hour("prs", now)
        span = min(self.hour, max(now - self._started, self.window / 60))
        return PacingSnapshot(
            used_seconds=round(self.used(now), 3),
            budget_seconds=self.budget,
            window_seconds=self.window,
            target_seconds=self.target,
            over_target=self._last_hour("over_target", now),
            timeouts=self._last_hour("timeouts", now),
            secondary=self._last_hour("secondary", now),
            prs=prs,
            prs_per_hour=round(prs * self.hour / span, 1),
            remote_seconds=round(self.remote(now), 3),
        )
