"""The points budget of one token: check before sending, charge what is in flight, wait for
GitHub's reset (or refuse to), and say every long wait on one line.

GitHub's GraphQL rule: each token has a budget of points per hour (`rateLimit { limit
remaining resetAt }`, the `x-ratelimit-*` headers); a query costs about one point per 100
nodes it may return. A query that would dig into the kept reserve waits for `resetAt`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from core.errors import side_failure_level
from core.github.clock import GitHubClock
from core.github.errors import RateLimitedError, ReserveExceedsBudget
from core.github.metrics import BudgetTracker, RateLimitMetrics
from core.github.outcomes import Outcome
from core.github.pacing import ServerTimePacer

log = logging.getLogger("core.github")

MetricsCallback = Callable[[RateLimitMetrics], Awaitable[None] | None]
WaitCallback = Callable[[datetime, str], Awaitable[None] | None]
# Sends one query and returns its outcome (`Action.OK`), or raises `PrimaryLimited`.
Send = Callable[[], Awaitable[Outcome]]

SECONDARY_MIN_WAIT = 60.0
# A wait longer than this is said on one line (log level WARNING: every CLI command shows it)
# with what it waits for and until when; shorter ones are routine pacing.
WAIT_NOTICE_SECONDS = 5.0


class PrimaryLimited(Exception):
    """GitHub answered that the primary budget is spent until `reset_at` (its clock)."""

    def __init__(self, reset_at: datetime, message: str) -> None:
        super().__init__(message)
        self.reset_at = reset_at


def _duration(seconds: float) -> str:
    """`45 s`, `12 min`, `1 h 01 min`: how long a wait is, for its one line."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


@dataclass(kw_only=True)
class BudgetGate:
    """Waits for and charges one token's points budget, shared by every worker using it.

    `min_remaining` points are kept in reserve; `wait_on_rate_limit` False raises
    `RateLimitedError` instead of waiting; `max_retries` bounds how often one query is sent
    again after GitHub said the budget is spent (and, in `core.github.http`, after a secondary
    limit or a blip). `sleep` and `rng` (jitter) serve every wait of the token's requests.
    `on_rate_limit` gets each new snapshot (its failure is logged, never raised); `on_wait`
    hears of every wait before it starts. `fingerprint` names the token in log lines.
    """

    clock: GitHubClock
    pacer: ServerTimePacer
    fingerprint: str
    min_remaining: int = 500
    wait_on_rate_limit: bool = True
    max_retries: int = 5
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    on_rate_limit: MetricsCallback | None = None
    on_wait: WaitCallback | None = None
    tracker: BudgetTracker = field(init=False)
    # Estimated points of queries in flight, not yet reported.
    _reserved: int = field(init=False, default=0)
    _dry_run_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.tracker = BudgetTracker(now=self.clock.now)

    # -- checking ---------------------------------------------------------------------------

    async def check(self, estimated_cost: int, min_remaining: int | None, probe: Send) -> None:
        """Raise `RateLimitedError` (sending nothing) if a query of `estimated_cost` points
        would dig into the reserve (`min_remaining`, default the gate's), or
        `ReserveExceedsBudget` if the reserve is the whole budget. Uses what earlier answers
        reported; only when nothing is known yet is `probe` (a `rateLimit(dryRun: true)`)
        sent, once. After `reset_at` the budget is full again, so it passes."""
        if not self.tracker.known:
            await self._learn(probe)
        reserve = self.min_remaining if min_remaining is None else min_remaining
        limit = self.tracker.limit
        if limit is not None and 0 < limit <= reserve:
            # Clamping such a reserve lets only an untouched budget through: after the first
            # point every query would wait for a reset with the budget nearly full.
            raise ReserveExceedsBudget(reserve, limit)
        self._check(estimated_cost, reserve)

    def within_budget(self, estimated_cost: int) -> bool:
        """Whether what earlier answers reported leaves the reserve untouched by a query of
        `estimated_cost` points (sends nothing; unknown budgets pass)."""
        try:
            self._check(estimated_cost, self.min_remaining)
        except RateLimitedError:
            return False
        return True

    def _check(self, estimated_cost: int, min_remaining: int) -> None:
        budget = self.tracker
        if budget.remaining is None or budget.reset_at is None:
            return  # nothing could be learnt: let GitHub answer for itself
        now = self.clock.now()
        if now >= budget.reset_at:
            return
        available = budget.remaining - self._reserved
        limit = budget.limit if budget.limit is not None else budget.remaining
        # A query too big for the reserve even on a full budget still runs right after a reset.
        reserve = min(min_remaining, max(0, limit - estimated_cost))
        if available - estimated_cost < reserve:
            raise RateLimitedError(
                f"GraphQL budget too low: {available} points left, query needs ~{estimated_cost},"
                f" {reserve} kept in reserve; resets at {budget.reset_at:%Y-%m-%d %H:%M:%S} UTC",
                reset_at=budget.reset_at,
                remaining=available,
                estimated_cost=estimated_cost,
                now=now,
            )

    async def _learn(self, probe: Send) -> None:
        async with self._dry_run_lock:
            if self.tracker.known:
                return
            payload = (await probe()).payload or {}
            data = payload.get("data")
            if isinstance(data, dict):
                self.tracker.observe_rate_limit(data.get("rateLimit"), dry_run=True)
            await self.publish()

    # -- charging ---------------------------------------------------------------------------

    async def charge(self, cost: int, send: Send, probe: Send, *, ahead: bool = False) -> Outcome:
        """Send a query of `cost` estimated points once the budget allows it, counting it as
        in flight meanwhile, and take the budget its answer reports. Waits for the reset
        (GitHub's clock, one second past it) when the reserve would be touched or GitHub
        says the budget is spent (at most `max_retries` times); raises `RateLimitedError`
        instead when the gate does not wait or the query is a fetch `ahead` (a wait of up to
        an hour that the worker would rather spend on another backfill)."""
        limited = 0
        while True:
            await self._reserve(cost, probe, ahead=ahead)
            try:
                outcome = await send()
            except PrimaryLimited as exc:
                limited += 1
                reset_at = exc.reset_at
                if not self.wait_on_rate_limit or limited > self.max_retries or ahead:
                    raise RateLimitedError(
                        f"GitHub says the GraphQL budget is spent; resets at "
                        f"{reset_at:%Y-%m-%d %H:%M:%S} UTC",
                        reset_at=reset_at,
                        remaining=0,
                        estimated_cost=cost,
                        now=self.clock.now(),
                    ) from None
                # GitHub said limited: never send again before its reset (its clock), and
                # not in the same instant even if the reset looks past.
                continue_after = max(reset_at, self.clock.now()) + timedelta(seconds=1)
                await self.wait_until(
                    continue_after,
                    "GraphQL rate limit",
                    "the GraphQL budget to reset (GitHub answered that it is spent)",
                )
                continue
            finally:
                self._reserved -= cost
            data = (outcome.payload or {}).get("data")
            assert isinstance(data, dict)  # `decide` said ok: a dict of data
            self.tracker.observe_rate_limit(data.get("rateLimit"))
            await self.publish()
            return outcome

    async def _reserve(self, cost: int, probe: Send, *, ahead: bool) -> None:
        """Wait (or raise) until the budget allows `cost`, then count it as in flight."""
        while True:
            try:
                await self.check(cost, None, probe)
            except RateLimitedError as exc:
                if not self.wait_on_rate_limit or ahead:
                    raise
                await self.wait_until(
                    exc.reset_at + timedelta(seconds=1),
                    "GraphQL budget",
                    f"the GraphQL budget to reset ({exc.remaining:,} points left, a query needs "
                    f"~{exc.estimated_cost}, MIN_GRAPHQL_POINTS={self.min_remaining} kept)",
                )
                continue
            self._reserved += cost
            return

    async def publish(self) -> None:
        """Hand the budget's latest snapshot to `on_rate_limit` (a failure there is logged:
        persisting metrics must never stop a backfill)."""
        snapshot = self.tracker.snapshot()
        if snapshot is None or self.on_rate_limit is None:
            return
        try:
            await _maybe_await(self.on_rate_limit(snapshot))
        except Exception as exc:
            log.log(
                side_failure_level(exc),
                "github %s: on_rate_limit failed: %s",
                self.fingerprint,
                type(exc).__name__,
            )

    # -- waiting ----------------------------------------------------------------------------

    async def wait_until(self, until: datetime, reason: str, detail: str = "") -> None:
        """Sleep until `until` (GitHub's clock). Every wait goes through here: one longer than
        WAIT_NOTICE_SECONDS is said on one line (what for, until when, and that Ctrl-C
        stops it); the sleep is an ordinary cancellable one, so Ctrl-C ends it."""
        seconds = self.clock.seconds_until(until)
        level = logging.WARNING if seconds > WAIT_NOTICE_SECONDS else logging.INFO
        log.log(
            level,
            "waiting until %s UTC (%s) for %s; Ctrl-C stops",
            f"{until:%H:%M:%S}",
            _duration(seconds),
            detail or reason,
        )
        if self.on_wait is not None:
            await _maybe_await(self.on_wait(until, reason))
        await self.sleep(self.clock.seconds_until(until))

    def secondary_wait(self, retry_after: float | None, attempt: int) -> float:
        """Seconds to wait before try `attempt` + 1 after GitHub's secondary limit: its
        `retry-after`; else until the reset if the budget is spent; else GitHub's "at least
        a minute", doubling per attempt, with jitter (on the pacing window's scale)."""
        if retry_after is not None:
            return retry_after
        remaining, reset_at = self.tracker.remaining, self.tracker.reset_at
        if remaining == 0 and reset_at is not None and reset_at > self.clock.now():
            return (reset_at - self.clock.now()).total_seconds() + 1
        base = SECONDARY_MIN_WAIT * self.pacer.scale * 2 ** (attempt - 1)
        return base + self.rng.uniform(0, base / 4)

    def spent_until(self, headers: httpx.Headers) -> datetime:
        """When a budget GitHub said is spent comes back: `x-ratelimit-reset` (epoch
        seconds), else the known reset, else a minute from now; recorded as spent."""
        header = headers.get("x-ratelimit-reset")
        if header and header.strip().isdigit():
            reset = datetime.fromtimestamp(int(header), UTC)
        elif self.tracker.reset_at is not None and self.tracker.reset_at > self.clock.now():
            reset = self.tracker.reset_at
        else:
            reset = self.clock.now() + timedelta(seconds=SECONDARY_MIN_WAIT)
        self.tracker.observe(remaining=0, reset_at=reset, limit=self.tracker.limit)
        return self.tracker.reset_at or reset  # as far as the tracker believes it
