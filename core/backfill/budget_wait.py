"""Budget waits: before a chunk is reserved, a low GraphQL budget is waited out, or the
backfill is let go for another lane's work; never a pause forever."""

from __future__ import annotations

import enum
from datetime import timedelta

from core.backfill.claims import Claims
from core.backfill.context import WorkerContext
from core.backfill.lanes import Lane, Lanes
from core.backfill.lease import HeldLease
from core.backfill.options import PAGE_COST_ESTIMATE
from core.backfill.stopping import Interrupted
from core.github.errors import RateLimitedError


class BudgetWait(enum.Enum):
    """How a wait for the budget ended."""

    READY = "ready"  # room for a page (or PRs fetched ahead to hand out: `hand_out`)
    # Another lane has budget and nobody on it: this backfill waits for its reset, marked
    # waiting, and the slot claims work for that lane meanwhile.
    LET_GO = "let go"
    STOPPED = "stopped"  # the worker stops, or its deadline came, meanwhile


class BudgetWaits:
    def __init__(self, ctx: WorkerContext, lanes: Lanes, claims: Claims) -> None:
        self.ctx = ctx
        self.lanes = lanes
        self.claims = claims

    async def room_for_sync_page(self, lane: Lane) -> BudgetWait:
        """A sync never waits for the budget: it stops here and resumes later from its
        walk's cursor."""
        try:
            await self.ctx.stopping.interruptible(
                lane.client.check_rate_limit_before_query(PAGE_COST_ESTIMATE)
            )
        except Interrupted:
            return BudgetWait.STOPPED
        except RateLimitedError:
            return BudgetWait.LET_GO
        return BudgetWait.READY

    async def before_page(self, held: HeldLease) -> BudgetWait:
        """Before reserving a chunk, wait out a low budget (until reset + 1 s), unless another
        lane could work meanwhile (`_idle_budget_elsewhere`)."""
        ctx, stopping = self.ctx, self.ctx.stopping
        lease, lane = held.lease, held.lane
        while True:
            try:
                await stopping.interruptible(
                    lane.client.check_rate_limit_before_query(PAGE_COST_ESTIMATE)
                )
            except Interrupted:
                return BudgetWait.STOPPED
            except RateLimitedError as exc:
                until = exc.reset_at + timedelta(seconds=1)  # GitHub's clock
                if await self._idle_budget_elsewhere(lane):
                    try:  # a page on its way is paid for: count it with the rest
                        await stopping.interruptible(
                            lane.client.ahead_arrived(lease.owner, lease.name, lease.claim_token)
                        )
                    except Interrupted:
                        return BudgetWait.STOPPED
                    complete = lane.client.fetched_complete(
                        lease.owner, lease.name, lease.claim_token
                    )
                    if complete:
                        # Paid for already and needing no request: store it before letting
                        # go (the next holder would fetch it again).
                        held.hand_out = complete
                        return BudgetWait.READY
                    await ctx.store.set_waiting(lease, until)
                    ctx.say(
                        f"{lease.repository}: {lane.name}'s budget is spent until "
                        f"{until:%H:%M:%S}; working another installation's meanwhile"
                    )
                    return BudgetWait.LET_GO
                await lane.presence.on_wait(until, "GraphQL budget below MIN_GRAPHQL_POINTS")
                ctx.say(
                    f"{lease.repository}: waiting for the GraphQL budget until {until:%H:%M:%S}"
                )
                # Every budget is spent: wake at the first reset, this one's or another's
                # (then this backfill is let go for that one's work, above).
                wake = min(
                    [until, *(other.resets_at() + timedelta(seconds=1) for other in self.lanes)]
                )
                await stopping.pause(lane.client.seconds_until(wake))
                if stopping.requested():
                    return BudgetWait.STOPPED
                continue
            if lane.presence.waiting_until is not None:
                lane.presence.done_waiting()
                await ctx.store.set_waiting(lease, None)
            return BudgetWait.READY

    async def _idle_budget_elsewhere(self, spent: Lane) -> bool:
        """Whether another lane has budget, no slot of this worker on it, and work to claim:
        then a backfill of the `spent` lane is let go so this slot works that lane meanwhile.
        (A lane another slot already works needs no help; letting go throws away the PRs
        fetched ahead, which the next holder pays for again.)"""
        idle = self.lanes.idle_besides(spent)
        return bool(idle) and await self.claims.claimable(idle)
