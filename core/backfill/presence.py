"""What one process shows the others through the database: its budget and its waits.

The GitHub client calls these hooks; they write the latest budget snapshot (throttled) and
mark every backfill this process holds as waiting until the budget resets, so any console,
on any machine, can say "waiting until 14:05".
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from uuid import UUID

from core.github.metrics import RateLimitMetrics
from core.store.models import Lease
from core.store.store import Store

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, store: Store, token_fingerprint: str, *, min_interval: float = 1.0) -> None:
        self.store = store
        self.token_fingerprint = token_fingerprint
        self.min_interval = min_interval
        self.held: dict[UUID, Lease] = {}
        self.waiting_until: datetime | None = None
        self._pending: RateLimitMetrics | None = None
        self._written_at = 0.0

    def hold(self, lease: Lease) -> None:
        self.held[lease.backfill_state_id] = lease

    def drop(self, lease: Lease) -> None:
        self.held.pop(lease.backfill_state_id, None)

    async def on_rate_limit(self, metrics: RateLimitMetrics) -> None:
        self._pending = metrics
        if time.monotonic() - self._written_at >= self.min_interval or metrics.remaining == 0:
            await self.flush()

    async def flush(self) -> None:
        metrics, self._pending = self._pending, None
        if metrics is None:
            return
        self._written_at = time.monotonic()
        await self.store.record_rate_limit(
            self.token_fingerprint,
            remaining=metrics.remaining,
            limit=metrics.limit,
            used=metrics.used,
            reset_at=metrics.reset_at,
            last_cost=metrics.last_cost,
            average_cost_per_query=metrics.average_cost_per_query,
            queries=metrics.queries_sampled,
        )

    async def on_wait(self, until: datetime, reason: str) -> None:
        self.waiting_until = until
        log.info("waiting until %s: %s", until.isoformat(timespec="seconds"), reason)
        await self.flush()
        for lease in list(self.held.values()):
            await self.store.set_waiting(lease, until)

    def done_waiting(self) -> None:
        self.waiting_until = None
