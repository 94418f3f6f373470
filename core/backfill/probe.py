"""The freshness probe: many completed repositories per point, a sync only for those that moved.

A sync walk costs at least a point per repository, changed or not. A probe asks up to 100
completed repositories in ONE aliased GraphQL document for their newest PR's `updatedAt` and
their PR `totalCount` (about one point by GitHub's cost rule: core.github.cost), then settles
each in SQL (`settle_probe`): one that moved (newer than its watermark, a different count, or
refused PRs due again) is left due for a sync walk (`claim_sync`); the others are fresh as of
the probe, counted (`probe_count`) with no chunk row written. Claimed and fenced as syncs are
(`claim_probe`), and routed the same way: each document goes out with one lane's credential,
for repositories of that lane's installation.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.backfill.context import WorkerContext
from core.backfill.lanes import Lane, Lanes
from core.github.client import Probed
from core.github.queries import PROBE_BATCH
from core.store.models import ProbeLease

# Seconds a repository GitHub would not answer for in a probe (gone, forbidden) rests before
# it is probed again, so a round neither loops on it nor holds the others up.
PROBE_FAILED_COOLDOWN = 600


class Probes:
    """One probe per call of `round`: claim a batch for a lane with budget, ask, settle."""

    def __init__(self, ctx: WorkerContext, lanes: Lanes) -> None:
        self.ctx = ctx
        self.lanes = lanes

    async def round(self) -> bool:
        """Probe one batch of due repositories (up to PROBE_BATCH) with a lane that has
        budget; False when none was due for any such lane (or probes are off)."""
        opts = self.ctx.options
        if not opts.sync_every and not opts.sync_only:
            return False
        older_than = (
            timedelta(seconds=opts.sync_every) if opts.sync_every and not opts.sync_only else None
        )
        # No lock: claim_probe skips rows another slot holds, so slots probe side by side.
        for lane in self._lanes_to_try():
            batch = await self.ctx.store.claim_probe(
                opts.worker_id,
                opts.lease_seconds,
                older_than=older_than,
                only=opts.only_list,
                installations=self.lanes.routing([lane]),
                limit=PROBE_BATCH,
            )
            if batch:
                await self._probe(batch, lane)
                return True
        return False

    def _lanes_to_try(self) -> list[Lane]:
        """Routed (App installations): each ready lane, for its own repositories. Personal
        tokens see every repository: the best ready one."""
        ready = self.lanes.ready()
        if not ready:
            return []
        return ready if self.lanes.routed else [Lanes.best(ready)]

    async def _probe(self, batch: list[ProbeLease], lane: Lane) -> None:
        ctx = self.ctx
        lane.holding += 1
        try:
            answers = await lane.client.probe_repositories([(b.owner, b.name) for b in batch])
        except BaseException:
            for lease in batch:  # nothing learned: due again at once for whoever claims
                await asyncio.shield(ctx.store.release(lease))
            raise
        finally:
            lane.holding -= 1
        moved = unchanged = 0
        for lease, answer in zip(batch, answers, strict=True):
            outcome = await self._settle(lease, answer)
            moved += outcome == "moved"
            unchanged += outcome == "unchanged"
        ctx.stats.probes += 1
        ctx.stats.probed_unchanged += unchanged
        ctx.say(
            f"probed {len(batch)} repositories in one query: {unchanged} unchanged (fresh "
            f"now), {moved} moved (syncing)"
        )

    async def _settle(self, lease: ProbeLease, answer: Probed) -> str:
        store = self.ctx.store
        if answer.error is not None:
            await store.probe_failed(lease, answer.error, PROBE_FAILED_COOLDOWN)
            self.ctx.say(f"{answer.error} (probe; resting {PROBE_FAILED_COOLDOWN // 60} minutes)")
            return "failed"
        return await store.settle_probe(
            lease,
            answer.newest_updated_at,
            answer.total_count,
            margin_seconds=self.ctx.options.sync_margin,
        )
