"""Backfill pages: a slice of one backfill, page after page, each committed exactly once.

A page the store's transport refuses as too large (PostgREST behind a gateway's body limit:
HTTP 413) is split in halves, each its own chunk and its own transaction.
"""

from __future__ import annotations

import time

from core.backfill.budget_wait import BudgetWait
from core.backfill.claims import Claims
from core.backfill.lanes import Lane
from core.backfill.lease import HeldLease, PageOutcome
from core.backfill.page_steps import PageSteps
from core.errors import DatabaseRefused, PageTooLarge
from core.github.models import PullRequestPage
from core.store.models import Chunk, CommitResult, Lease


class BackfillPages:
    def __init__(self, steps: PageSteps, claims: Claims) -> None:
        self.steps = steps
        self.claims = claims
        self.ctx, self.holder, self.budget = steps.ctx, steps.holder, steps.budget
        self.failures = steps.failures

    async def work(self, lease: Lease, lane: Lane) -> None:
        """Work the backfill for a slice (`slice_seconds`), then let another have the slot."""
        ctx = self.ctx
        ctx.page_sizes.remember(lease.backfill_state_id, lease.page_size)
        async with self.holder.holding(lease, lane) as held:
            until = time.monotonic() + ctx.options.slice_seconds
            while not ctx.stopping.requested() and not held.lost:
                if await self.budget.before_page(held) is not BudgetWait.READY:
                    break
                if await self._one_page(held) is PageOutcome.LET_GO:
                    break
                held.handing_over = False
                if time.monotonic() >= until and await self.claims.others_waiting():
                    # Let another backfill have this slot for a while, once the PRs fetched
                    # ahead for this one are stored (the next holder would fetch them again).
                    if not lane.client.fetched_ahead(lease.owner, lease.name, lease.claim_token):
                        break
                    held.handing_over = True

    async def _one_page(self, held: HeldLease) -> PageOutcome:
        """Fetch and commit one page."""
        ctx = self.ctx
        lease, key = held.lease, held.lease.backfill_state_id
        chunk = await self.holder.start(held, ctx.store.start_chunk(lease, ctx.options.worker_id))
        if chunk is None:
            return PageOutcome.LET_GO  # lease lost, paused, or finished
        size = ctx.page_sizes.get(key)
        client = held.lane.client
        # Refused PRs due again ride in this page's first query (none when no query is due).
        retry = [] if held.hand_out or held.handing_over else held.take_retry()
        if held.hand_out:  # what was fetched ahead and is complete: no request at all
            size, held.hand_out = min(size, held.hand_out), 0
        elif held.handing_over:  # what was fetched ahead, completed by follow-ups only
            size = min(
                size, max(1, client.fetched_ahead(lease.owner, lease.name, lease.claim_token))
            )
        fetched = await self.steps.fetch(
            held,
            chunk,
            size,
            client.fetch_pull_requests_page(
                lease.owner,
                lease.name,
                after=chunk.cursor_before,
                page_size=size,
                ahead=not held.handing_over,
                holder=lease.claim_token,
                retry=retry,
            ),
        )
        if not isinstance(fetched, PullRequestPage):
            return fetched
        page = fetched
        try:
            result = await self._store(lease, chunk, page)
        except DatabaseRefused:  # nothing can be stored: the worker stops (Worker._slot)
            raise
        except Exception as exc:  # the database refused or blinked
            return await self.failures.store_failed(held, chunk, exc, size, "chunk")
        if not result.committed:
            await self.failures.not_stored(lease, chunk, "chunk", result.reason)
            return PageOutcome.LET_GO
        resized = ctx.page_sizes.succeeded(key, page.slowest_seconds)
        if resized is not None:
            await self.failures.remember_page_size(lease, resized)
        ctx.stats.pages += 1
        ctx.stats.prs_inserted += result.inserted_prs
        ctx.say(
            f"{lease.repository}: chunk {chunk.chunk_number} stored {result.upserted_prs} PRs "
            f"({result.processed_prs}/{result.total_prs or 0})"
        )
        self.steps.report(lease, chunk, page, result)
        # A list that ended short of GitHub's count; at the end, the PRs left refused (this
        # page's refused ones were said above, and every page's summary would repeat it).
        summary = "PR(s) refused (see pull_request_failures)"  # refused_note()'s words
        if (
            result.note
            and not result.refused
            and (result.status != "active" or summary not in result.note)
        ):
            ctx.say(f"{lease.repository}: {result.note}")
        if result.status == "completed":
            ctx.say(f"{lease.repository}: completed")
        return PageOutcome.NEXT_PAGE if result.status == "active" else PageOutcome.LET_GO

    async def _store(self, lease: Lease, chunk: Chunk, page: PullRequestPage) -> CommitResult:
        """Commit a page; one too large for the store's transport is split in halves, the
        cursor moving only with the last; one PR too large alone is recorded as refused
        (pull_request_failures) and the chunk commits without it."""
        store = self.ctx.store
        prs = list(page.pull_requests)
        refused = [bad.as_refusal() for bad in page.refused]  # recorded in the commit
        while True:
            await store.record_chunk_prs(chunk, [pr.number for pr in prs])
            try:
                return await store.commit_chunk(
                    chunk,
                    prs,
                    cursor_after=page.end_cursor,
                    has_next_page=page.has_next_page,
                    total_prs=page.total_count,
                    refused=refused,
                )
            except PageTooLarge as exc:
                if len(prs) == 1:
                    pr = prs.pop()
                    await store.refuse_pull_request(chunk, pr.github_id, pr.number, str(exc))
                    continue
            # Too large: store the first half without moving the cursor (a crash now means
            # the page is fetched again and the half is upserted again: nothing lost), then
            # go on with the rest under the next chunk number.
            first, prs = prs[: len(prs) // 2], prs[len(prs) // 2 :]
            half = await self._store(
                lease,
                chunk,
                page.model_copy(
                    update={
                        "pull_requests": first,
                        "end_cursor": chunk.cursor_before,
                        "has_next_page": True,
                    }
                ),
            )
            if not half.committed:
                return half
            refused = []  # recorded with the first half
            self.ctx.say(f"{lease.repository}: chunk {chunk.chunk_number} split (too large)")
            nxt = await store.start_chunk(lease, self.ctx.options.worker_id)
            if nxt is None:
                return CommitResult(committed=False, reason="lease lost")
            chunk = nxt
