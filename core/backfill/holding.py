"""Lease keep-alive: a lease while it is worked on is announced, extended well before it
expires, and on the way out (however the work ends) released with its chunk settled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable

from core.backfill.context import WorkerContext
from core.backfill.failures import FailurePolicy
from core.backfill.lanes import Lane
from core.backfill.lease import HeldLease, release
from core.backfill.reasons import first_line
from core.errors import side_failure_level
from core.store.models import Chunk, Lease, RetryRequest

log = logging.getLogger(__name__)


class LeaseHolder:
    def __init__(self, ctx: WorkerContext, failures: FailurePolicy) -> None:
        self.ctx = ctx
        self.failures = failures

    @contextlib.asynccontextmanager
    async def holding(self, lease: Lease, lane: Lane) -> AsyncIterator[HeldLease]:
        """The lease while it is worked on: announced, kept alive, and on the way out (however
        it ends) its fetches ahead dropped, the slot freed and the lease released."""
        held = HeldLease(lease, lane, retry=await self._due_retries(lease))
        lane.presence.hold(lease)
        keeper = asyncio.create_task(self._keep_alive(held))
        try:
            yield held
        except BaseException as exc:
            # Whatever cut the work short (a bad token stopping every slot, a signal, a bug):
            # its chunk in hand records why. A chunk already settled is left as it is
            # (`fail_chunk` changes only a chunk still `processing` under this claim).
            if held.chunk is not None:
                reason = self.ctx.stopping.cut_short(exc)
                await self.failures.fail(held.chunk, reason, counted=False)
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            lane.holding -= 1
            lane.presence.drop(lease)
            lane.client.forget(lease.owner, lease.name, lease.claim_token)
            await release(self.ctx.store, lease)

    @staticmethod
    async def start(held: HeldLease, start: Awaitable[Chunk | None]) -> Chunk | None:
        """Start a chunk and note it on `held`, even when the worker is cancelled meanwhile:
        the chunk exists then, and the cancellation (`holding`) must settle it."""
        task = asyncio.ensure_future(start)
        try:
            held.chunk = await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                held.chunk = await task
            raise
        return held.chunk

    async def _due_retries(self, lease: Lease) -> list[RetryRequest]:
        """The repository's refused PRs due to be asked for again alone: each claim (a
        backfill's slice, a sync) asks for them in its first query, so a refused PR is
        retried on the schedule its repository is worked on, a bounded number of times
        (`pull_requests_to_retry`). Best effort: the work goes on without them."""
        try:
            return await self.ctx.store.pull_requests_to_retry(lease)
        except Exception as exc:
            log.log(
                side_failure_level(exc),
                "%s: refused PRs not retried now: %s",
                lease.repository,
                first_line(exc),
            )
            return []

    async def _keep_alive(self, held: HeldLease) -> None:
        """Extend the lease well before it expires; notice when it is gone."""
        ctx = self.ctx
        while True:
            await asyncio.sleep(ctx.options.heartbeat_interval)
            try:
                expires = await ctx.store.heartbeat(held.lease, ctx.options.lease_seconds)
            except Exception as exc:  # a database blip: the next beat may succeed
                log.log(
                    side_failure_level(exc),
                    "heartbeat failed for %s: %s",
                    held.lease.repository,
                    exc,
                )
                continue
            if expires is None:
                held.lost = True
                ctx.stats.lost_leases += 1
                ctx.say(f"{held.lease.repository}: lease lost; stopping work on it")
                return
