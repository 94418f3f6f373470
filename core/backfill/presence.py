"""What one process shows the others through the database: its budget and its waits.

The GitHub client calls these hooks; they write the latest budget snapshot (throttled) and
mark every backfill this process holds as waiting until the budget resets, so any console,
on any machine, can say "waiting until 14:05".
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
import uuid
from datetime import datetime

from core.github.credentials import Credential
from core.github.metrics import RateLimitMetrics
from core.github.pacing import ServerTimePacer
from core.store.models import Lease
from core.store.store import Store

log = logging.getLogger(__name__)


class Presence:
    def __init__(
        self,
        store: Store,
        token_fingerprint: str,
        *,
        min_interval: float = 1.0,
        pacer: ServerTimePacer | None = None,
        credential: Credential | None = None,
    ) -> None:
        self.store = store
        self.token_fingerprint = token_fingerprint
        # Whose budget, for stats and the console: its name and installation (never a token).
        self.credential = credential
        self.pacer = pacer
        # Other processes pace against what this one publishes: at least 20 times a window.
        self.min_interval = min(min_interval, pacer.window / 20) if pacer else min_interval
        self.process = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # The leases this process works under, by claim token: two slots can hold one backfill
        # for a moment (one's lease ran out, the other took it over), and the old one letting
        # go must not drop the new one's.
        self.held: dict[int, Lease] = {}
        self.waiting_until: datetime | None = None
        self._pending: RateLimitMetrics | None = None
        self._written_at = 0.0

    def hold(self, lease: Lease) -> None:
        self.held[lease.claim_token] = lease

    def drop(self, lease: Lease) -> None:
        self.held.pop(lease.claim_token, None)

    async def on_rate_limit(self, metrics: RateLimitMetrics) -> None:
        self._pending = metrics
        if time.monotonic() - self._written_at >= self.min_interval or metrics.remaining == 0:
            await self.flush()

    async def flush(self) -> None:
        metrics, self._pending = self._pending, None
        if metrics is None:
            return
        self._written_at = time.monotonic()
        pacing = dataclasses.asdict(self.pacer.snapshot()) if self.pacer else None
        others = await self.store.record_rate_limit(
            self.token_fingerprint,
            remaining=metrics.remaining,
            limit=metrics.limit,
            used=metrics.used,
            reset_at=metrics.reset_at,
            last_cost=metrics.last_cost,
            average_cost_per_query=metrics.average_cost_per_query,
            queries=metrics.queries_sampled,
            process=self.process if pacing else None,
            server_time=pacing,
            credential=self.credential.name if self.credential else None,
            installation_id=self.credential.installation_id if self.credential else None,
        )
        if self.pacer is not None:
            window = self.pacer.window
            fresh = [
                float(entry.get("used_seconds") or 0.0)
                for entry in others.values()
                if float(entry.get("age") or 0.0) < window and entry.get("window_seconds") == window
            ]
            self.pacer.observe_remote(sum(fresh), len(fresh))

    # The token's server-time ledger (`core.github.pacing.ServerTimeLedger`), shared in the
    # database by every process on the token.

    async def reserve(
        self, seconds: float, *, window: float, budget: float, kill: float
    ) -> tuple[int | None, float]:
        return await self.store.reserve_server_time(
            self.token_fingerprint,
            process=self.process,
            seconds=seconds,
            window=window,
            budget=budget,
            kill=kill,
        )

    async def settle(self, reservation: int, seconds: float) -> None:
        await self.store.settle_server_time(reservation, seconds)

    async def on_wait(self, until: datetime, reason: str) -> None:
        self.waiting_until = until
        log.info("waiting until %s: %s", until.isoformat(timespec="seconds"), reason)
        await self.flush()
        for lease in list(self.held.values()):
            await self.store.set_waiting(lease, until)

    def done_waiting(self) -> None:
        self.waiting_until = None
