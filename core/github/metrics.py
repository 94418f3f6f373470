"""The point budget as the client last saw it, and the spec's metrics derived from it.

Every response updates the budget (headers, plus the `rateLimit` object each query asks for),
so nothing ever needs a separate rateLimit query per page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DEFAULT_COST_WINDOW = 100
# GitHub's budget window is one hour. A reset further ahead (beyond a minute's slack) means the
# clocks disagree or the answer is wrong: it is believed no further away than this, so nothing
# waits longer, and the first answer after it tells the truth again.
MAX_RESET_AHEAD = timedelta(hours=1, minutes=1)


class RateLimitMetrics(BaseModel):
    """Snapshot of one token's GraphQL budget; `model_dump(by_alias=True)` is the spec's JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    remaining: int
    limit: int
    percentage_used: float
    average_cost_per_query: float
    estimated_queries_remaining: int
    used: int
    reset_at: datetime
    last_cost: int | None = None
    queries_sampled: int = Field(default=0, exclude=True)


def _parse_reset(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (ValueError, OverflowError, OSError):  # not a number, or no representable date
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


class BudgetTracker:
    """Folds observations into the latest budget; ignores stale ones from concurrent requests.

    Responses may arrive out of order (several in flight): within one reset window the lowest
    `remaining` wins; a later `reset_at` starts a new window.
    """

    def __init__(
        self,
        window: int = DEFAULT_COST_WINDOW,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._now = now
        self._costs: deque[int] = deque(maxlen=window)
        self.limit: int | None = None
        self.remaining: int | None = None
        self.used: int | None = None
        self.reset_at: datetime | None = None
        self.last_cost: int | None = None

    @property
    def known(self) -> bool:
        return self.remaining is not None and self.reset_at is not None

    def observe(
        self,
        *,
        limit: Any = None,
        remaining: Any = None,
        used: Any = None,
        reset_at: Any = None,
    ) -> None:
        limit_i, remaining_i, used_i = _int(limit), _int(remaining), _int(used)
        reset = _parse_reset(reset_at)
        if remaining_i is None:
            return
        if reset is not None:
            reset = min(reset, self._now() + MAX_RESET_AHEAD)
        if self.reset_at is not None and reset is not None:
            # Same window (GitHub's header is whole seconds, resetAt may not be): keep the min.
            same_window = abs((reset - self.reset_at).total_seconds()) < 1.5
            if not same_window and reset < self.reset_at:
                return  # a response from an earlier window, overtaken
            if same_window and self.remaining is not None and remaining_i > self.remaining:
                return  # stale: another in-flight response already reported less
        self.remaining = remaining_i
        if limit_i is not None:
            self.limit = limit_i
        if used_i is not None:
            self.used = used_i
        elif self.limit is not None:
            self.used = self.limit - remaining_i
        if reset is not None:
            self.reset_at = reset

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        self.observe(
            limit=headers.get("x-ratelimit-limit"),
            remaining=headers.get("x-ratelimit-remaining"),
            used=headers.get("x-ratelimit-used"),
            reset_at=headers.get("x-ratelimit-reset"),
        )

    def observe_rate_limit(self, rate_limit: Mapping[str, Any] | None, *, dry_run: bool = False):
        """Fold a `rateLimit {...}` object; its cost is sampled unless it was a dry run."""
        if not rate_limit or not isinstance(rate_limit, Mapping):
            return  # missing, or not an object (a malformed answer): nothing to learn
        self.observe(
            limit=rate_limit.get("limit"),
            remaining=rate_limit.get("remaining"),
            used=rate_limit.get("used"),
            reset_at=rate_limit.get("resetAt"),
        )
        cost = _int(rate_limit.get("cost"))
        if cost is not None and not dry_run:
            self.record_cost(cost)

    def record_cost(self, cost: int) -> None:
        self._costs.append(cost)
        self.last_cost = cost

    def snapshot(self) -> RateLimitMetrics | None:
        if self.remaining is None or self.reset_at is None:
            return None
        limit = self.limit if self.limit is not None else max(self.remaining, 1)
        used = self.used if self.used is not None else limit - self.remaining
        average = sum(self._costs) / len(self._costs) if self._costs else 0.0
        estimated = int(self.remaining // average) if average > 0 else self.remaining
        return RateLimitMetrics(
            remaining=self.remaining,
            limit=limit,
            percentage_used=round((limit - self.remaining) / limit * 100, 2) if limit else 0.0,
            average_cost_per_query=round(average, 2),
            estimated_queries_remaining=estimated,
            used=used,
            reset_at=self.reset_at,
            last_cost=self.last_cost,
            queries_sampled=len(self._costs),
        )
