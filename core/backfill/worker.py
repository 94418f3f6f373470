"""A worker: claims backfills, walks their pages oldest first, commits each page exactly once.

Every step that matters is a SQL function (claim, start_chunk, commit_chunk, ...), guarded by
the lease's fencing token, so the worker itself holds no state another process depends on.
Kill it at any moment: the page it was on is fetched again by whoever claims the backfill
next, from the cursor that was last committed.

This module is the loop; its parts live beside it: `stopping` (stop requests, deadlines),
`lanes` and `claims` (budgets and routing), `holding` (lease keep-alive), `budget_wait`,
`pages` (backfill pages, the 413 split), `sync`, `failures` (the failure policy), `announce`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable, Sequence

from core.backfill.announce import Announcer
from core.backfill.budget_wait import BudgetWaits
from core.backfill.claims import Claimed, Claims
from core.backfill.context import WorkerContext
from core.backfill.failures import FailurePolicy
from core.backfill.holding import LeaseHolder
from core.backfill.lanes import Lane, LaneLike, Lanes
from core.backfill.options import (
    MAX_BUSY_IN_A_ROW,
    MAX_COOLDOWN,
    MAX_FAILURES_IN_A_ROW,
    PAGE_COST_ESTIMATE,
    SYNC_EVERY,
    SYNC_MARGIN,
    WorkerOptions,
    WorkerStats,
    default_worker_id,
)
from core.backfill.page_size import PageSizes
from core.backfill.page_steps import PageSteps
from core.backfill.pages import BackfillPages
from core.backfill.presence import Presence
from core.backfill.probe import Probes
from core.backfill.reasons import first_line, outage
from core.backfill.stopping import STOP_GRACE_SECONDS, Interrupted, Stopping
from core.backfill.sync import SyncWalks
from core.errors import DatabaseBusy, DatabaseRefused
from core.github.client import GitHubClient
from core.github.credentials import Credentials
from core.github.errors import GitHubError
from core.github.outcomes import Action
from core.store.store import Store

__all__ = [
    "MAX_BUSY_IN_A_ROW",
    "MAX_COOLDOWN",
    "MAX_FAILURES_IN_A_ROW",
    "PAGE_COST_ESTIMATE",
    "STOP_GRACE_SECONDS",
    "SYNC_EVERY",
    "SYNC_MARGIN",
    "LaneLike",
    "Worker",
    "WorkerOptions",
    "WorkerStats",
    "default_worker_id",
]

log = logging.getLogger(__name__)


class Turn(enum.Enum):
    """What a slot's turn (one claim and its work) leaves the slot to do."""

    AGAIN = "again"  # worked, or idled a moment: take another turn
    DONE = "done"  # `until_idle` (or `sync_only`) and nothing is left: the slot ends


class Worker:
    """Works backfills with one or more budgets (`lanes`: one per credential).

    Before each claim it passes the App installations whose budget has room for a page, so
    it claims only what it can work now; it works each backfill with the client of the
    installation that sees the repository. An exhausted installation never idles the others:
    its backfill is let go (marked waiting until the reset) while another has budget. Only
    when every budget is spent does a slot wait, for the earliest reset, as with one token.
    Personal tokens (GITHUB_TOKENS) see every repository: claims are not routed, and each
    claim goes to the token with budget that holds the fewest backfills.
    """

    def __init__(
        self,
        store: Store,
        client: GitHubClient,
        presence: Presence,
        options: WorkerOptions | None = None,
        *,
        page_sizes: PageSizes | None = None,
        on_event: Callable[[str], None] | None = None,
        lanes: Sequence[LaneLike] = (),
        credentials: Credentials | None = None,
    ) -> None:
        self.store = store
        self.options = options or WorkerOptions()
        self.page_sizes = page_sizes or PageSizes(target=client.pacer.target)
        self.stats = WorkerStats()
        self.stopping = Stopping(self.options.max_runtime)
        # `client`/`presence` are the first lane's (callers with one token pass only them).
        own = [Lane(x.client, x.presence, x.credential) for x in lanes] or [Lane(client, presence)]
        for lane in own:  # each budget published under its credential's name
            if lane.presence.credential is None:
                lane.presence.credential = lane.credential
        self.lanes = Lanes(own, credentials)
        ctx = WorkerContext(
            store, self.options, self.stats, self.stopping, self.page_sizes, on_event
        )
        failures = FailurePolicy(ctx)
        holder = LeaseHolder(ctx, failures)
        self.claims = Claims(ctx, self.lanes, failures)
        budget = BudgetWaits(ctx, self.lanes, self.claims)
        steps = PageSteps(ctx, failures, holder, budget)
        self.pages = BackfillPages(steps, self.claims)
        self.syncs = SyncWalks(steps)
        self.probes = Probes(ctx, self.lanes)
        self.announcer = Announcer(ctx, self.lanes)

    def stop(self, *, abandon: bool = False, reason: str | None = None) -> None:
        """First call: finish the page in hand (within STOP_GRACE_SECONDS), then exit.
        `abandon`: stop at once. `reason`: why, recorded on every chunk the stop cuts short."""
        self.stopping.stop(abandon=abandon, reason=reason)

    async def run(self) -> WorkerStats:
        """Work until stopped, out of runtime, or (with `until_idle`) out of work."""
        slots = [asyncio.create_task(self._slot()) for _ in range(max(1, self.options.concurrency))]
        self.stopping.tasks = slots
        beat = asyncio.create_task(self.announcer.beat())
        watch = asyncio.create_task(self.stopping.watch_deadline())
        try:
            results = await asyncio.gather(*slots, return_exceptions=True)
        finally:
            for task in (beat, watch):
                # Cancelled until done: a cancellation that lands inside the database
                # driver mid-heartbeat can be absorbed there, and one cancel() is then lost.
                while not task.done():
                    task.cancel()
                    await asyncio.wait({task}, timeout=1.0)
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
            await self.announcer.once("stopped")
            for lane in self.lanes:
                with contextlib.suppress(Exception):
                    await lane.presence.flush()
        errors = [r for r in results if isinstance(r, BaseException)]
        fatal = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
        if fatal:
            raise fatal[0]
        return self.stats

    async def left_undone(self) -> bool:
        """Whether this run stored nothing while failing, and left the work it failed at
        undone: a backfill it ended `failed` or a sync it gave up, or work still outstanding
        (or a database that cannot say). A cron or Actions job must not pass green then; it
        may when other workers completed what a database blip cut short here."""
        stats = self.stats
        if stats.pages or stats.sync_pages or not (stats.failures or stats.errors):
            return False
        if stats.gave_up:
            return True
        try:
            summary = await self.store.work_summary(
                self.options.only_list, installations=self.lanes.routing()
            )
            return summary.outstanding > 0
        except Exception:
            return True

    async def _slot(self) -> None:
        errors = busy = 0
        while not self.stopping.requested():
            try:
                if await self._turn() is Turn.DONE:
                    return
                errors = busy = 0
            except GitHubError as exc:
                if exc.action is not Action.STOP:
                    raise
                self.stop(abandon=True, reason=str(exc))  # a bad token stops every slot
                raise
            except DatabaseRefused as exc:  # read-only, too old, not UTF-8: no retry can help
                self.stop(abandon=True, reason=str(exc))
                raise
            except Interrupted:
                return
            except Exception as exc:  # the database or GitHub blinked: back off, go on
                errors += 1
                self.stats.errors += 1
                busy = busy + 1 if isinstance(exc, DatabaseBusy) else 0
                if busy >= MAX_BUSY_IN_A_ROW:
                    self.stop(abandon=True)
                    raise
                log.warning(
                    "worker slot error (%s): %s",
                    type(exc).__name__,
                    first_line(exc),
                    exc_info=not outage(exc),
                )
                await self.stopping.pause(min(30.0, self.options.idle_interval * 2**errors))

    async def _turn(self) -> Turn:
        """One claim and its work: a backfill, else a probe of due repositories, else a sync
        (of those a probe found moved, or an unfinished walk), else a moment idle."""
        opts = self.options
        claimed = None if opts.sync_only else await self.claims.backfill()
        if claimed is not None:
            self.stats.claims += 1
            if isinstance(claimed, Claimed):
                await self.pages.work(claimed.lease, claimed.lane)
            return Turn.AGAIN
        if await self.probes.round():  # due repositories probed; the moved ones synced next
            return Turn.AGAIN
        sync = await self.claims.sync()
        if sync is not None:
            self.stats.claims += 1
            if isinstance(sync, Claimed):
                await self.syncs.walk(sync.lease, sync.lane)
            return Turn.AGAIN
        if opts.sync_only:
            return Turn.DONE  # nothing due, or another worker holds it: skip
        if opts.until_idle and await self.claims.none_left():
            return Turn.DONE
        await self.stopping.pause(opts.idle_interval)
        return Turn.AGAIN
