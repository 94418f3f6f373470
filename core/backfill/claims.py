"""Claims: taking a backfill (or a due sync) from the database for a lane with budget.

One slot claims at a time, so the next one sees which lanes are busy (`Lane.holding`). A
claim routed to no lane of this worker is let go at once (`ClaimEnded`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar
from uuid import UUID

from core.backfill.context import WorkerContext
from core.backfill.failures import FailurePolicy
from core.backfill.lanes import Lane, Lanes, RoutedElsewhere, SeenByNoInstallation
from core.backfill.lease import release
from core.store.models import Lease, SyncLease

log = logging.getLogger(__name__)
L = TypeVar("L", bound=Lease)


@dataclass(frozen=True)
class Claimed(Generic[L]):
    """A lease to work with `lane`, counted in the lane's `holding` until it is let go."""

    lease: L
    lane: Lane


@dataclass(frozen=True)
class ClaimEnded:
    """Claimed, then let go at once: no installation sees the repository (its backfill
    failed), or it is routed to one this worker has no credential for."""

    lease: Lease


class Claims:
    def __init__(self, ctx: WorkerContext, lanes: Lanes, failures: FailurePolicy) -> None:
        self.ctx = ctx
        self.lanes = lanes
        self.failures = failures
        self._one_at_a_time = asyncio.Lock()
        self._said_routed_elsewhere = False

    async def backfill(self) -> Claimed[Lease] | ClaimEnded | None:
        """Claim a backfill that a budget with room can work (None: nothing to claim)."""
        opts = self.ctx.options
        async with self._one_at_a_time:
            for group in self.lanes.claim_groups():
                lease = await self.ctx.store.claim_backfill(
                    opts.worker_id,
                    opts.lease_seconds,
                    opts.only_list,
                    installations=self.lanes.routing(group),
                )
                if lease is not None:
                    return await self._to_lane(lease, group)
        return None

    async def sync(self) -> Claimed[SyncLease] | ClaimEnded | None:
        """After backfill work: claim a completed repository whose sync is due. Never digs
        into the budget's reserve (MIN_GRAPHQL_POINTS): a sync yields to backfills and waits
        for a better budget without holding a slot (None: no sync claimed)."""
        opts = self.ctx.options
        every = opts.sync_every
        if not every and not opts.sync_only:
            return None  # --sync-every 0: this worker does not sync
        ready = self.lanes.ready()
        if not ready:
            return None
        older_than = timedelta(seconds=every) if every and not opts.sync_only else None
        async with self._one_at_a_time:
            lease = await self.ctx.store.claim_sync(
                opts.worker_id,
                opts.lease_seconds,
                older_than=older_than,
                only=opts.only_list,
                margin_seconds=opts.sync_margin,
                installations=self.lanes.routing(ready),
            )
            if lease is None:
                return None
            return await self._to_lane(lease, ready)

    async def _to_lane(self, lease: L, group: Sequence[Lane]) -> Claimed[L] | ClaimEnded:
        """The lane of the installation that sees the leased repository; one no installation
        can see fails with the reason, one routed to another worker's is let go."""
        ctx = self.ctx
        route = await self.lanes.route(ctx.store, lease, group)
        if isinstance(route, SeenByNoInstallation):
            await self.failures.fail_backfill(lease, route.reason)
            await release(ctx.store, lease)
            return ClaimEnded(lease)
        if route.routed_now is not None:
            ctx.say(f"{lease.repository}: routed to installation {route.routed_now}")
        if isinstance(route, RoutedElsewhere):
            ctx.say(
                f"{lease.repository}: its installation {route.installation} is not one of this "
                "worker's; left for a worker that has it"
            )
            await release(ctx.store, lease)
            return ClaimEnded(lease)
        route.lane.holding += 1  # until the lease is let go (LeaseHolder.holding)
        return Claimed(lease, route.lane)

    async def claimable(self, lanes: Sequence[Lane]) -> bool:
        """Whether backfills that `lanes` could work now wait for a slot."""
        only = self.ctx.options.only_list
        summary = await self.ctx.store.work_summary(only, installations=self.lanes.routing(lanes))
        return summary.claimable > 0

    async def others_waiting(self) -> bool:
        """Whether backfills this worker could work now wait for a slot."""
        return await self.claimable(self.lanes.ready())

    async def none_left(self) -> bool:
        """With `--until-idle`: whether no work is left for this worker's lanes."""
        only = self.ctx.options.only_list
        mine = self.lanes.routing()
        if (await self.ctx.store.work_summary(only, installations=mine)).outstanding:
            return False
        await self._say_what_is_routed_elsewhere(only, mine)
        return True

    async def _say_what_is_routed_elsewhere(
        self, only: list[UUID] | None, mine: list[int] | None
    ) -> None:
        """Idle, but backfills remain for installations this process has no credential for
        (GITHUB_APP_INSTALLATION_IDS, or the App reinstalled under a new id): say so once, so
        `--until-idle` never ends looking done while work waits for nobody."""
        if mine is None or self._said_routed_elsewhere:
            return
        elsewhere = (await self.ctx.store.work_summary(only)).outstanding
        if elsewhere:
            self._said_routed_elsewhere = True
            log.warning(
                "%d backfill(s) left for App installations this worker has no credential for "
                "(not in %s); a worker with those installations takes them, or "
                "`backfill-console retry`/`add` routes them again",
                elsewhere,
                ", ".join(map(str, mine)) or "none",
            )
