"""Sync walks: a completed repository's changes since its watermark, page by page."""

from __future__ import annotations

from core.backfill.budget_wait import BudgetWait
from core.backfill.lanes import Lane
from core.backfill.lease import HeldLease, PageOutcome
from core.backfill.page_steps import PageSteps
from core.errors import DatabaseRefused
from core.github.models import PullRequestPage
from core.store.models import SyncLease


class SyncWalks:
    def __init__(self, steps: PageSteps) -> None:
        self.steps = steps
        self.ctx, self.holder, self.budget = steps.ctx, steps.holder, steps.budget
        self.failures = steps.failures

    async def walk(self, lease: SyncLease, lane: Lane) -> None:
        """Walk until done, stopped, or out of budget (resumed later from the walk's cursor)."""
        ctx = self.ctx
        ctx.say(f"{lease.repository}: sync started (changes since {lease.since:%Y-%m-%d %H:%M:%S})")
        async with self.holder.holding(lease, lane) as held:
            while not ctx.stopping.requested() and not held.lost:
                if await self.budget.room_for_sync_page(lane) is not BudgetWait.READY:
                    break
                if await self._one_page(held, lease) is PageOutcome.LET_GO:
                    break

    async def _one_page(self, held: HeldLease, lease: SyncLease) -> PageOutcome:
        """Fetch and commit one page of a sync; LET_GO when the walk ends or stops here."""
        ctx = self.ctx
        key = lease.backfill_state_id
        start = ctx.store.start_sync_chunk(lease, ctx.options.worker_id)
        chunk = await self.holder.start(held, start)
        if chunk is None:
            return PageOutcome.LET_GO
        size = ctx.page_sizes.get(key)
        fetched = await self.steps.fetch(
            held,
            chunk,
            size,
            held.lane.client.fetch_changed_pull_requests(
                lease.owner, lease.name, after=chunk.cursor_before, page_size=size,
                since=lease.since, holder=lease.claim_token, retry=held.take_retry(),
            ),
        )  # fmt: skip
        if not isinstance(fetched, PullRequestPage):
            return PageOutcome.LET_GO
        numbers = [pr.number for pr in fetched.pull_requests]
        try:
            await ctx.store.record_chunk_prs(chunk, numbers)
            result = await ctx.store.commit_sync_chunk(
                chunk,
                fetched.pull_requests,
                cursor_after=fetched.end_cursor,
                done=not fetched.has_next_page,
                total_prs=fetched.total_count,
                refused=[bad.as_refusal() for bad in fetched.refused],
            )
        except DatabaseRefused:  # nothing can be stored: the worker stops (Worker._slot)
            raise
        except Exception as exc:  # the same bounded path as a backfill page
            await self.failures.store_failed(held, chunk, exc, size, "sync chunk")
            return PageOutcome.LET_GO
        if not result.committed:
            await self.failures.not_stored(lease, chunk, "sync chunk", result.reason)
            return PageOutcome.LET_GO
        ctx.page_sizes.succeeded(key)
        ctx.stats.sync_pages += 1
        ctx.stats.prs_inserted += result.inserted_prs
        deleted = result.reviews_deleted + result.comments_deleted
        ctx.say(
            f"{lease.repository}: sync chunk {chunk.chunk_number} stored {len(numbers)} changed "
            f"PRs ({result.inserted_prs} new{f', {deleted} deleted items' if deleted else ''})"
        )
        self.steps.report(lease, chunk, fetched, result)
        if not result.done:
            return PageOutcome.NEXT_PAGE
        ctx.stats.syncs += 1
        mark = f"{result.watermark:%Y-%m-%d %H:%M:%S}" if result.watermark else "unchanged"
        if await ctx.store.sync_request_pending(key):
            # A resumed walk that began before the "sync now": its end is not fresh as of
            # the request. The request stays open, so claim_sync hands the repository out
            # again and the next walk starts from the top, down to this new watermark.
            ctx.say(
                f"{lease.repository}: resumed sync walk finished (watermark {mark}); it "
                "began before the sync was asked for, walking again from the top"
            )
        else:
            ctx.say(f"{lease.repository}: synced (watermark {mark})")
        return PageOutcome.LET_GO
