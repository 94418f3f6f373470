"""The failure policy: what a failed page does to its chunk, its backfill and its lease.

An error carries its outcome (`GitHubError.action`, decided by `core.github.outcomes`; any
other error fails the chunk). Failures are bounded: the count of a backfill's chunks failed in
a row lives in the database (`fail_chunk_in_a_row`), so every process and machine that takes
a turn on the backfill shares it; the cooldown doubles with each, and the bound fails the
backfill (a sync gives up and rests). A committed page resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.backfill.context import WorkerContext
from core.backfill.lease import HeldLease, PageOutcome
from core.backfill.options import MAX_COOLDOWN
from core.backfill.reasons import outage, store_failed
from core.errors import side_failure_level
from core.github.errors import GitHubError, RateLimitedError
from core.github.outcomes import Action
from core.store.models import Chunk, ChunkFailure, Lease, SyncLease

log = logging.getLogger(__name__)


class FailurePolicy:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    async def apply(
        self, held: HeldLease, chunk: Chunk, exc: Exception, size: int, reason: str | None = None
    ) -> PageOutcome:
        """Apply the outcome `exc` carries to the chunk and the backfill, bounded: N failures
        in a row fail the backfill. Raises `exc` again when it stops the worker."""
        ctx = self.ctx
        lease, key = held.lease, held.lease.backfill_state_id
        reason = reason or str(exc)
        action = exc.action if isinstance(exc, GitHubError) else Action.FAIL_CHUNK
        if action is Action.STOP:
            await self.fail(chunk, reason)
            raise exc
        # A sync that cannot go on leaves its repository completed and rests a while.
        rest = MAX_COOLDOWN if isinstance(lease, SyncLease) else 0
        if action is Action.FAIL_BACKFILL:
            await self.fail(chunk, reason, rest)
            await self.fail_backfill(lease, reason)
            return PageOutcome.LET_GO
        if action is Action.WAIT:  # the limit outlasted the client's bounded waits
            cooldown = MAX_COOLDOWN
            if isinstance(exc, RateLimitedError):
                cooldown = int(min(MAX_COOLDOWN, held.lane.client.seconds_until(exc.reset_at) + 1))
            await self.fail(chunk, reason, max(1, cooldown))
            ctx.say(f"{lease.repository}: chunk {chunk.chunk_number} waits: {exc}")
            return PageOutcome.LET_GO
        if action is Action.SHRINK:
            smaller = ctx.page_sizes.shrink(key)
            await self.remember_page_size(lease, smaller)
            # A smaller page is tried at once; the smallest failing again cools down.
            base = 0 if smaller < size else ctx.options.cooldown_base
            failure = await self.fail_in_a_row(lease, chunk, reason, base)
            if not failure.gave_up:
                ctx.say(f"{lease.repository}: {exc}; page size now {smaller}")
            if failure.gave_up or failure.cooldown_seconds > 0 or not failure.failed:
                return PageOutcome.LET_GO
            return PageOutcome.NEXT_PAGE
        failure = await self.fail_in_a_row(lease, chunk, reason, ctx.options.cooldown_base)
        if not failure.gave_up:
            ctx.say(f"{lease.repository}: chunk {chunk.chunk_number} failed: {reason}")
        return PageOutcome.LET_GO

    async def store_failed(
        self, held: HeldLease, chunk: Chunk, exc: Exception, size: int, kind: str
    ) -> PageOutcome:
        """The database refused or blinked while a page was stored: the same bounded path as
        a failed fetch, never a chunk left `processing`."""
        reason = store_failed(exc)
        log.warning("%s %s: %s", kind, chunk.chunk_number, reason, exc_info=not outage(exc))
        return await self.apply(held, chunk, exc, size, reason=reason)

    async def fail_in_a_row(
        self, lease: Lease, chunk: Chunk, reason: str, cooldown_base: int
    ) -> ChunkFailure:
        """Fail the chunk as one more failure of its backfill in a row: the cooldown doubles
        from `cooldown_base` with each, and at `max_failures_in_a_row` the backfill fails."""
        ctx = self.ctx
        ctx.stats.failures += 1
        failure = ChunkFailure()
        with contextlib.suppress(Exception):
            failure = await asyncio.shield(
                ctx.store.fail_chunk_in_a_row(
                    chunk,
                    reason,
                    cooldown_base,
                    max_failures_in_a_row=ctx.options.max_failures_in_a_row,
                )
            )
        if failure.gave_up:
            ctx.stats.gave_up += 1
            what = "sync failed" if isinstance(lease, SyncLease) else "failed"
            ctx.say(f"{lease.repository}: {what}: {failure.reason}")
        return failure

    async def not_stored(self, lease: Lease, chunk: Chunk, kind: str, reason: str | None) -> None:
        """The database refused a page's commit: the lease was lost (expired, taken over,
        the backfill failed, retried or its repository removed) or recovery settled the chunk.
        The chunk is failed at once, fenced by its own claim token (`fail_chunk` changes
        nothing if recovery or a removal got there first, and never the next holder's
        backfill row), instead of staying `processing` until a recovery run finds it stuck
        and, seeing its PRs stored by the next holder, counts it completed. Not counted as
        the work's failure: the page was fine, the lease was not."""
        self.ctx.say(f"{lease.repository}: {kind} {chunk.chunk_number} not stored ({reason})")
        await self.fail(chunk, f"not stored: {reason or 'refused'}", counted=False)

    async def remember_page_size(self, lease: Lease, size: int) -> None:
        """Store the size on the backfill: the next holder starts there (best effort)."""
        try:
            await self.ctx.store.remember_page_size(lease, size)
        except Exception as exc:
            log.log(side_failure_level(exc), "%s: page size not stored: %s", lease.repository, exc)

    async def fail_backfill(self, lease: Lease, reason: str) -> None:
        ctx = self.ctx
        ctx.stats.gave_up += 1
        if isinstance(lease, SyncLease):
            # A completed repository stays completed; its syncs rest (its lag shows it).
            ctx.say(f"{lease.repository}: sync failed: {reason}")
            return
        with contextlib.suppress(Exception):
            await asyncio.shield(ctx.store.fail_backfill(lease, reason))
        ctx.say(f"{lease.repository}: failed: {reason}")

    async def fail(
        self, chunk: Chunk, error: str, cooldown: int = 0, *, counted: bool = True
    ) -> None:
        """Fail the chunk (its cursor stays). `counted`: a failure of the work, as opposed to
        the worker stopping (its deadline, a signal: not why nothing was stored)."""
        if counted:
            self.ctx.stats.failures += 1
        with contextlib.suppress(Exception):
            await asyncio.shield(self.ctx.store.fail_chunk(chunk, error, cooldown))
