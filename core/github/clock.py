"""GitHub's clock, as its answers show it: budgets reset and waits end on GitHub's time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

CLOCK_SKEW_NOISE = 1.5  # seconds of apparent skew that `Date`'s whole seconds explain


class GitHubClock:
    """Our clock (`clock`, seconds since the epoch) corrected by the offset the latest
    answer's `Date` header showed; a `reset_at` GitHub gives is compared with this."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.offset = 0.0  # GitHub's clock minus ours

    def now(self) -> datetime:
        """GitHub's time now (UTC)."""
        return datetime.fromtimestamp(self.clock() + self.offset, UTC)

    def seconds_until(self, when: datetime) -> float:
        """Seconds (>= 0) until `when`, a time GitHub gave, on GitHub's clock."""
        return max(0.0, (when - self.now()).total_seconds())

    def observe(self, headers: httpx.Headers) -> None:
        """Take the offset from an answer's `Date` (RFC 7231, whole seconds); an unreadable
        one changes nothing."""
        date = headers.get("date")
        if not date:
            return
        try:
            offset = parsedate_to_datetime(date).timestamp() - self.clock()
        except (TypeError, ValueError, OverflowError):
            return
        # `Date` has whole seconds (floored): under ~1 s is noise, not skew.
        self.offset = offset if abs(offset) >= CLOCK_SKEW_NOISE else 0.0
