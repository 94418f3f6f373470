"""A worker: claims backfills, walks their pages oldest first, commits each page exactly once.

Every step that matters is a SQL function (claim, start_chunk, commit_chunk, ...), guarded by
the lease's fencing token, so the worker itself holds no state another process depends on.
Kill it at any moment: the page it was on is fetched again by whoever claims the backfill
next, from the cursor that was last committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar
from uuid import UUID

from core.backfill.page_size import PageSizes
from core.backfill.presence import Presence
from core.errors import DatabaseBusy, DatabaseRefused, PageTooLarge, StoreUnavailable
from core.github.client import GitHubClient
from core.github.credentials import Credential, Credentials, NotVisible
from core.github.errors import GitHubError, RateLimitedError
from core.github.models import PullRequestPage
from core.github.outcomes import Action
from core.store.models import (
    Chunk,
    ChunkFailure,
    CommitResult,
    Lease,
    RetryRequest,
    SyncLease,
    SyncResult,
)
from core.store.postgres import connection_dropped
from core.store.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_COST_ESTIMATE = 2  # a full page with nested reviews/comments: 1-2 points
MAX_COOLDOWN = 600
# Chunks of one backfill failing in a row (shrinks at size 1, malformed or repeated answers,
# unknown errors) before the backfill itself fails with the last reason: no endless retry.
# Counted in the database (fail_chunk_in_a_row), so it holds across processes and machines.
MAX_FAILURES_IN_A_ROW = 8
# A slot's steps the database gave up on in a row (DatabaseBusy: lock_timeout,
# statement_timeout), retried with backoff, before the worker exits with that line.
MAX_BUSY_IN_A_ROW = 10
SYNC_EVERY = 15 * 60.0  # seconds: a completed repository is synced when its last sync is older
SYNC_MARGIN = 600  # seconds a sync walks past its watermark (clock skew, eventual consistency)
# After a stop request, seconds the page in hand has to finish before a wait on GitHub (a
# reset, a backoff, the server-time pacer) is cut short: the page is fetched again later, and
# a SIGTERM from cron, systemd or Actions ends the process in bounded time.
STOP_GRACE_SECONDS = 10.0


class _Interrupted(Exception):
    """--max-runtime came, or a stop's grace ran out, while waiting on GitHub."""


def _outage(exc: BaseException) -> bool:
    """Whether `exc` is the database away for a moment (a restart, a failover, a dropped
    connection; Supabase's REST API unreachable) rather than a bug. Logged on one line: a
    traceback is for bugs (`sync` and `backfill` print warnings on the user's terminal)."""
    return isinstance(exc, StoreUnavailable | DatabaseBusy) or connection_dropped(exc)


def _first_line(exc: BaseException) -> str:
    """The error's own words without the server's CONTEXT lines (a statement's whole SQL)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str = field(default_factory=default_worker_id)
    concurrency: int = 1
    until_idle: bool = False
    max_runtime: float | None = None
    only: tuple[UUID, ...] | None = None
    lease_seconds: int = 60
    heartbeat_interval: float = 10.0
    idle_interval: float = 2.0
    slice_seconds: float = 60.0  # then release, so every backfill gets its turn
    max_failures_in_a_row: int = MAX_FAILURES_IN_A_ROW  # then the backfill fails
    cooldown_base: int = 5  # seconds after a first failed chunk; doubles up to MAX_COOLDOWN
    # Syncs of completed repositories (issue 17), after backfill work: those whose last sync
    # is older than `sync_every` seconds (None or 0: only syncs asked for or unfinished).
    sync_every: float | None = SYNC_EVERY
    sync_margin: int = SYNC_MARGIN
    sync_only: bool = False  # `backfill-console sync`: no backfill work, exit when none is due


@dataclass
class WorkerStats:
    claims: int = 0
    pages: int = 0
    prs_inserted: int = 0
    failures: int = 0  # chunks failed
    errors: int = 0  # claims or work the database (or GitHub) cut short, then resumed
    gave_up: int = 0  # backfills this run ended `failed`, syncs it gave up
    lost_leases: int = 0
    syncs: int = 0  # sync walks finished
    sync_pages: int = 0


class LaneLike(Protocol):
    """What a worker needs of each credential (core.backfill.runtime.Lane)."""

    @property
    def credential(self) -> Credential | None: ...
    @property
    def client(self) -> GitHubClient: ...
    @property
    def presence(self) -> Presence: ...


@dataclass(eq=False)
class _Lane:
    """One budget a worker draws on: a credential (a personal token or an App installation),
    its own client (budget, pre-flight check, server-time pacing) and its own presence (the
    budget and waits it publishes, keyed by the credential's fingerprint), and how many
    backfills this worker works through it right now."""

    client: GitHubClient
    presence: Presence
    credential: Credential | None = None
    holding: int = 0

    @property
    def installation_id(self) -> int | None:
        return self.credential.installation_id if self.credential is not None else None

    @property
    def name(self) -> str:
        return self.credential.name if self.credential is not None else "the token"

    def ready(self) -> bool:
        """What its client knows leaves the reserve untouched by a page (unknown: ready)."""
        return self.client.within_budget(PAGE_COST_ESTIMATE)

    def resets_at(self) -> datetime:
        """When its budget is full again (GitHub's clock); now when unknown."""
        metrics = self.client.metrics
        return metrics.reset_at if metrics is not None else self.client.github_now()

    def remaining(self) -> int:
        metrics = self.client.metrics
        return metrics.remaining if metrics is not None else 1 << 30


@dataclass
class _Held:
    lease: Lease
    lane: _Lane
    lost: bool = False
    handing_over: bool = False  # asked to let go: only hand out what was fetched ahead
    hand_out: int = 0  # budget spent: hand out this many complete PRs fetched ahead, no request
    chunk: Chunk | None = None  # the latest chunk started under this lease
    # Refused PRs due to be asked for again alone: they ride in the next fetch of this claim.
    retry: list[RetryRequest] = field(default_factory=list)

    def take_retry(self) -> list[RetryRequest]:
        retry, self.retry = self.retry, []
        return retry


class Worker:
    """Works backfills with one or more budgets (`lanes`: one per credential, issue 18).

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
        self.client = client
        self.presence = presence
        # `client`/`presence` are the first lane's (callers with one token pass only them).
        self.lanes = [_Lane(x.client, x.presence, x.credential) for x in lanes] or [
            _Lane(client, presence)
        ]
        for lane in self.lanes:  # each budget published under its credential's name
            if lane.presence.credential is None:
                lane.presence.credential = lane.credential
        self.credentials = credentials
        self.routed = any(lane.installation_id is not None for lane in self.lanes)
        self.options = options or WorkerOptions()
        self.page_sizes = page_sizes or PageSizes(target=client.pacer.target)
        self.stats = WorkerStats()
        self._on_event = on_event
        self._stop = asyncio.Event()
        self._interrupt = asyncio.Event()  # the deadline: ends waits and backoffs too
        self._stopped_because: str | None = None  # the first reason to stop (see `stop`)
        self._abandoned = False
        self._deadline = (
            time.monotonic() + self.options.max_runtime if self.options.max_runtime else None
        )
        self._slots: list[asyncio.Task[None]] = []
        self._claiming = asyncio.Lock()
        self._said_routed_elsewhere = False

    # -- control -------------------------------------------------------------------------

    def stop(self, *, abandon: bool = False, reason: str | None = None) -> None:
        """First call: finish the page in hand (within STOP_GRACE_SECONDS), then exit.
        `abandon`: stop at once. `reason`: why, recorded on every chunk the stop cuts short
        (the first reason given is kept: the cause, not what followed from it)."""
        if reason and self._stopped_because is None:
            self._stopped_because = reason
        if not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # no loop running: nothing is waiting
                asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, self._interrupt.set)
        self._stop.set()
        if abandon and not self._abandoned:
            # Once: a second cancellation would cut short what the first one lets finish (a
            # chunk recording why it was cut short, the lease's release).
            self._abandoned = True
            self._interrupt.set()
            for task in self._slots:
                task.cancel()

    def _stopping(self) -> bool:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._deadline_reached()
        return self._stop.is_set()

    def _deadline_reached(self) -> None:
        if self._stopped_because is None:
            self._stopped_because = "--max-runtime reached"
        self._stop.set()
        self._interrupt.set()

    def _cut_short(self, exc: BaseException | None = None) -> str:
        """What a chunk that ends unstored because the worker stops records (on the chunk and
        the backfill's last_error, where `stats` and the console read it): the failure or
        request that stopped the worker, else the error that ended the work on it."""
        why = self._stopped_because
        if why is None and exc is not None and not isinstance(exc, asyncio.CancelledError):
            why = f"{type(exc).__name__}: {_first_line(exc)}"
        return f"worker stopped before the page was stored: {why or 'asked to stop'}"[:1000]

    async def _watch_deadline(self) -> None:
        """At --max-runtime: stop, and interrupt whatever is waiting on GitHub (a reset, a
        secondary-limit backoff, a slow answer) so the process ends on time."""
        if self._deadline is None:
            return
        await asyncio.sleep(max(0.0, self._deadline - time.monotonic()))
        self._deadline_reached()

    async def _interruptible(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless the deadline comes first (then `_Interrupted`)."""
        task = asyncio.ensure_future(awaitable)
        if self._interrupt.is_set():
            task.cancel()
        else:
            stopper = asyncio.create_task(self._interrupt.wait())
            try:
                await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:  # cancelled (abandon, quit): take the fetch down with it
                task.cancel()
                raise
            finally:
                stopper.cancel()
            if task.done():
                return task.result()
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _Interrupted

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up for a stop request."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    def _event(self, message: str) -> None:
        log.info(message)
        if self._on_event is not None:
            self._on_event(message)

    # -- main loop -----------------------------------------------------------------------

    async def run(self) -> WorkerStats:
        """Work until stopped, out of runtime, or (with `until_idle`) out of work."""
        opts = self.options
        self._slots = [asyncio.create_task(self._slot()) for _ in range(max(1, opts.concurrency))]
        beat = asyncio.create_task(self._announce())
        watch = asyncio.create_task(self._watch_deadline())
        try:
            results = await asyncio.gather(*self._slots, return_exceptions=True)
        finally:
            for task in (beat, watch):
                # Cancelled until done: a cancellation that lands inside the database
                # driver mid-heartbeat can be absorbed there, and one cancel() is then lost.
                while not task.done():
                    task.cancel()
                    await asyncio.wait({task}, timeout=1.0)
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
            await self._announce_once("stopped")
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
        only = list(self.options.only) if self.options.only else None
        try:
            summary = await self.store.work_summary(only, installations=self._routing(self.lanes))
            return summary.outstanding > 0
        except Exception:
            return True

    async def _slot(self) -> None:
        errors = busy = 0
        while not self._stopping():
            try:
                if not await self._claim_and_work():
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
            except _Interrupted:
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
                    _first_line(exc),
                    exc_info=not _outage(exc),
                )
                await self._pause(min(30.0, self.options.idle_interval * 2**errors))

    async def _claim_and_work(self) -> bool:
        """One claim and its work. False when run with `until_idle` and nothing is left."""
        opts = self.options
        only = list(opts.only) if opts.only else None
        claimed = None
        if not opts.sync_only:
            claimed = await self._claim(only)
        if claimed is None:
            synced = await self._claim_and_sync(only)
            if synced:
                return True
            if opts.sync_only:
                return False  # nothing due, or another worker holds it: skip
            if opts.until_idle:
                mine = self._routing(self.lanes)
                if (await self.store.work_summary(only, installations=mine)).outstanding == 0:
                    await self._say_what_is_routed_elsewhere(only, mine)
                    return False
            await self._pause(opts.idle_interval)
            return True
        lease, lane = claimed
        self.stats.claims += 1
        if lane is not None:
            await self._work(lease, lane)
        return True

    # -- routing (issue 18) ----------------------------------------------------------------

    async def _say_what_is_routed_elsewhere(
        self, only: list[UUID] | None, mine: list[int] | None
    ) -> None:
        """Idle, but backfills remain for installations this process has no credential for
        (GITHUB_APP_INSTALLATION_IDS, or the App reinstalled under a new id): say so once, so
        `--until-idle` never ends looking done while work waits for nobody."""
        if mine is None or self._said_routed_elsewhere:
            return
        elsewhere = (await self.store.work_summary(only)).outstanding
        if elsewhere:
            self._said_routed_elsewhere = True
            log.warning(
                "%d backfill(s) left for App installations this worker has no credential for "
                "(not in %s); a worker with those installations takes them, or "
                "`backfill-console retry`/`add` routes them again",
                elsewhere,
                ", ".join(map(str, mine)) or "none",
            )

    def _routing(self, lanes: Sequence[_Lane]) -> list[int] | None:
        """The `installations` argument of a claim that `lanes` may work; None: not routed."""
        if not self.routed:
            return None
        return [lane.installation_id for lane in lanes if lane.installation_id is not None]

    def _claim_groups(self) -> list[list[_Lane]]:
        """The lanes to claim for, in turn: those with budget and the fewest backfills in hand,
        then all those with budget, then (every budget spent) the one that resets first, whose
        backfill is then waited on as with a single token."""
        ready = [lane for lane in self.lanes if lane.ready()]
        groups: list[list[_Lane]] = []
        if ready:
            least = min(lane.holding for lane in ready)
            idle = [lane for lane in ready if lane.holding == least]
            groups.append(idle)
            if len(idle) < len(ready) and self.routed:
                groups.append(ready)
        else:
            groups.append([min(self.lanes, key=_Lane.resets_at)])
        return groups

    async def _claim(self, only: list[UUID] | None) -> tuple[Lease, _Lane | None] | None:
        """Claim a backfill that a budget with room can work, and the lane to work it with
        (None: the claim ended at once, e.g. its repository is visible to no installation)."""
        opts = self.options
        # One slot at a time, so the next slot sees which lanes are busy (`holding`).
        async with self._claiming:
            for group in self._claim_groups():
                lease = await self.store.claim_backfill(
                    opts.worker_id, opts.lease_seconds, only, installations=self._routing(group)
                )
                if lease is not None:
                    lane = await self._lane_for(lease, group)
                    if lane is not None:
                        lane.holding += 1  # until _work lets it go
                    return lease, lane
        return None

    def _best(self, lanes: Sequence[_Lane]) -> _Lane:
        """Of equivalent lanes (personal tokens): the least busy, then the most budget left."""
        return min(lanes, key=lambda lane: (lane.holding, -lane.remaining()))

    def _by_installation(self, installation_id: int) -> _Lane | None:
        for lane in self.lanes:
            if lane.installation_id == installation_id:
                return lane
        return None

    async def _lane_for(self, lease: Lease, group: Sequence[_Lane]) -> _Lane | None:
        """The lane of the installation that sees the leased repository. A repository added
        before routing is routed now (GET /repos/{owner}/{repo}/installation, remembered);
        one no installation can see fails with the reason."""
        if not self.routed:
            return self._best(group)
        installation = lease.installation_id
        if installation is None:
            if self.credentials is None:
                return self._best(group)
            try:
                installation = await self.credentials.installation_for(lease.owner, lease.name)
            except NotVisible as exc:
                await self._fail_backfill(lease, str(exc))
                await self._release(lease)
                return None
            if installation is None:  # not an App after all: any credential will do
                return self._best(group)
            await self.store.route_repository(lease.repository_id, installation)
            self._event(f"{lease.repository}: routed to installation {installation}")
        lane = self._by_installation(installation)
        if lane is None:  # routed to an installation this process has no credential for
            self._event(
                f"{lease.repository}: its installation {installation} is not one of this "
                "worker's; left for a worker that has it"
            )
            await self._release(lease)
        return lane

    async def _release(self, lease: Lease) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(self.store.release(lease))

    def _waiting_until(self) -> datetime | None:
        """When this process's budget wait ends: only when every lane holding work waits."""
        waits = [lane.presence.waiting_until for lane in self.lanes if lane.holding]
        if not waits or any(w is None for w in waits):
            return None
        return min(w for w in waits if w is not None)

    @contextlib.asynccontextmanager
    async def _holding(self, lease: Lease, lane: _Lane) -> AsyncIterator[_Held]:
        """The lease while it is worked on: announced, kept alive, and on the way out (however
        it ends) its fetches ahead dropped, the slot freed and the lease released."""
        held = _Held(lease, lane, retry=await self._due_retries(lease))
        lane.presence.hold(lease)
        keeper = asyncio.create_task(self._keep_alive(held))
        try:
            yield held
        except BaseException as exc:
            # Whatever cut the work short (a bad token stopping every slot, a signal, a bug):
            # its chunk in hand records why. A chunk already settled is left as it is
            # (`fail_chunk` changes only a chunk still `processing` under this claim).
            if held.chunk is not None:
                await self._fail(held.chunk, self._cut_short(exc), counted=False)
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            lane.holding -= 1
            lane.presence.drop(lease)
            lane.client.forget(lease.owner, lease.name, lease.claim_token)
            await self._release(lease)

    async def _due_retries(self, lease: Lease) -> list[RetryRequest]:
        """The repository's refused PRs due to be asked for again alone: each claim (a
        backfill's slice, a sync) asks for them in its first query, so a refused PR is
        retried on the schedule its repository is worked on, a bounded number of times
        (`pull_requests_to_retry`). Best effort: the work goes on without them."""
        try:
            return await self.store.pull_requests_to_retry(lease)
        except Exception as exc:
            log.warning("%s: refused PRs not retried now: %s", lease.repository, _first_line(exc))
            return []

    async def _work(self, lease: Lease, lane: _Lane) -> None:
        self.page_sizes.remember(lease.backfill_state_id, lease.page_size)
        async with self._holding(lease, lane) as held:
            until = time.monotonic() + self.options.slice_seconds
            while not self._stopping() and not held.lost:
                if not await self._wait_for_budget(held):
                    break
                if await self._one_page(held):
                    break
                held.handing_over = False
                if time.monotonic() >= until and await self._others_waiting():
                    # Let another backfill have this slot for a while, once the PRs fetched
                    # ahead for this one are stored (the next holder would fetch them again).
                    if not lane.client.fetched_ahead(lease.owner, lease.name, lease.claim_token):
                        break
                    held.handing_over = True

    # -- syncs (issue 17) -----------------------------------------------------------------

    async def _claim_and_sync(self, only: list[UUID] | None) -> bool:
        """After backfill work: claim a completed repository whose sync is due and walk its
        changes. Never digs into the budget's reserve (MIN_GRAPHQL_POINTS): a sync yields to
        backfills and waits for a better budget without holding a slot. False: none done."""
        opts = self.options
        every = opts.sync_every
        if not every and not opts.sync_only:
            return False  # --sync-every 0: this worker does not sync
        ready = [lane for lane in self.lanes if lane.ready()]
        if not ready:
            return False
        older_than = timedelta(seconds=every) if every and not opts.sync_only else None
        async with self._claiming:
            lease = await self.store.claim_sync(
                opts.worker_id,
                opts.lease_seconds,
                older_than=older_than,
                only=only,
                margin_seconds=opts.sync_margin,
                installations=self._routing(ready),
            )
            if lease is None:
                return False
            lane = await self._lane_for(lease, ready)
            if lane is not None:
                lane.holding += 1  # until _sync lets it go
        self.stats.claims += 1
        if lane is not None:
            await self._sync(lease, lane)
        return True

    async def _sync(self, lease: SyncLease, lane: _Lane) -> None:
        self._event(
            f"{lease.repository}: sync started (changes since {lease.since:%Y-%m-%d %H:%M:%S})"
        )
        async with self._holding(lease, lane) as held:
            while not self._stopping() and not held.lost:
                try:
                    await self._interruptible(
                        lane.client.check_rate_limit_before_query(PAGE_COST_ESTIMATE)
                    )
                except (_Interrupted, RateLimitedError):
                    break  # resumed later from the walk's cursor
                if await self._one_sync_page(held, lease):
                    break

    async def _one_sync_page(self, held: _Held, lease: SyncLease) -> bool:
        """Fetch and commit one page of a sync. True when the walk ends or stops here."""
        key = lease.backfill_state_id
        chunk = await self._start(held, self.store.start_sync_chunk(lease, self.options.worker_id))
        if chunk is None:
            return True
        size = self.page_sizes.get(key)
        fetched = await self._fetch(
            held,
            chunk,
            size,
            held.lane.client.fetch_changed_pull_requests(
                lease.owner, lease.name, after=chunk.cursor_before, page_size=size,
                since=lease.since, holder=lease.claim_token, retry=held.take_retry(),
            ),
        )  # fmt: skip
        if not isinstance(fetched, PullRequestPage):
            return True
        numbers = [pr.number for pr in fetched.pull_requests]
        try:
            await self.store.record_chunk_prs(chunk, numbers)
            result = await self.store.commit_sync_chunk(
                chunk,
                fetched.pull_requests,
                cursor_after=fetched.end_cursor,
                done=not fetched.has_next_page,
                total_prs=fetched.total_count,
                refused=[bad.as_refusal() for bad in fetched.refused],
            )
        except DatabaseRefused:  # nothing can be stored: the worker stops (Worker._slot)
            raise
        except Exception as exc:  # the same bounded path as a backfill page (Worker._apply)
            reason = f"could not store the page: {type(exc).__name__}: {_first_line(exc)}"[:1000]
            log.warning("sync chunk %s: %s", chunk.chunk_number, reason, exc_info=not _outage(exc))
            await self._apply(held, chunk, exc, size, reason=reason)
            return True
        if not result.committed:
            await self._not_stored(lease, chunk, "sync chunk", result.reason)
            return True
        self.page_sizes.succeeded(key)
        self.stats.sync_pages += 1
        self.stats.prs_inserted += result.inserted_prs
        deleted = result.reviews_deleted + result.comments_deleted
        self._event(
            f"{lease.repository}: sync chunk {chunk.chunk_number} stored {len(numbers)} changed "
            f"PRs ({result.inserted_prs} new{f', {deleted} deleted items' if deleted else ''})"
        )
        self._report(lease, chunk, fetched, result)
        if result.done:
            self.stats.syncs += 1
            mark = f"{result.watermark:%Y-%m-%d %H:%M:%S}" if result.watermark else "unchanged"
            if await self.store.sync_request_pending(key):
                # A resumed walk that began before the "sync now": its end is not fresh as of
                # the request. The request stays open, so claim_sync hands the repository out
                # again and the next walk starts from the top, down to this new watermark.
                self._event(
                    f"{lease.repository}: resumed sync walk finished (watermark {mark}); it "
                    "began before the sync was asked for, walking again from the top"
                )
            else:
                self._event(f"{lease.repository}: synced (watermark {mark})")
        return result.done

    async def _others_waiting(self) -> bool:
        """Whether backfills this worker could work now wait for a slot."""
        only = list(self.options.only) if self.options.only else None
        ready = self._routing([lane for lane in self.lanes if lane.ready()])
        return (await self.store.work_summary(only, installations=ready)).claimable > 0

    async def _keep_alive(self, held: _Held) -> None:
        """Extend the lease well before it expires; notice when it is gone."""
        opts = self.options
        while True:
            await asyncio.sleep(opts.heartbeat_interval)
            try:
                expires = await self.store.heartbeat(held.lease, opts.lease_seconds)
            except Exception as exc:  # a database blip: the next beat may succeed
                log.warning("heartbeat failed for %s: %s", held.lease.repository, exc)
                continue
            if expires is None:
                held.lost = True
                self.stats.lost_leases += 1
                self._event(f"{held.lease.repository}: lease lost; stopping work on it")
                return

    async def _idle_budget_elsewhere(self, spent: _Lane) -> bool:
        """Whether another lane has budget, no slot of this worker on it, and work to claim:
        then a backfill of the `spent` lane is let go so this slot works that lane meanwhile.
        (A lane another slot already works needs no help; letting go throws away the PRs
        fetched ahead, which the next holder pays for again.)"""
        idle = [o for o in self.lanes if o is not spent and o.holding == 0 and o.ready()]
        if not idle:
            return False
        only = list(self.options.only) if self.options.only else None
        summary = await self.store.work_summary(only, installations=self._routing(idle))
        return summary.claimable > 0

    async def _wait_for_budget(self, held: _Held) -> bool:
        """Before reserving a chunk, wait out a low budget (until reset + 1 s); never pause
        forever. Returns False if asked to stop meanwhile, or to let the backfill go because
        another lane has budget and nobody on it (`_idle_budget_elsewhere`: the slot claims
        work for that one instead; the backfill is marked waiting until its budget's reset
        and claimed again after it)."""
        lease, lane = held.lease, held.lane
        while True:
            try:
                await self._interruptible(
                    lane.client.check_rate_limit_before_query(PAGE_COST_ESTIMATE)
                )
            except _Interrupted:
                return False
            except RateLimitedError as exc:
                until = exc.reset_at + timedelta(seconds=1)  # GitHub's clock
                if await self._idle_budget_elsewhere(lane):
                    try:  # a page on its way is paid for: count it with the rest
                        await self._interruptible(
                            lane.client.ahead_arrived(lease.owner, lease.name, lease.claim_token)
                        )
                    except _Interrupted:
                        return False
                    complete = lane.client.fetched_complete(
                        lease.owner, lease.name, lease.claim_token
                    )
                    if complete:
                        # Paid for already and needing no request: store it before letting
                        # go (the next holder would fetch it again).
                        held.hand_out = complete
                        return True
                    await self.store.set_waiting(lease, until)
                    self._event(
                        f"{lease.repository}: {lane.name}'s budget is spent until "
                        f"{until:%H:%M:%S}; working another installation's meanwhile"
                    )
                    return False
                await lane.presence.on_wait(until, "GraphQL budget below MIN_GRAPHQL_POINTS")
                self._event(
                    f"{lease.repository}: waiting for the GraphQL budget until {until:%H:%M:%S}"
                )
                # Every budget is spent: wake at the first reset, this one's or another's
                # (then this backfill is let go for that one's work, above).
                wake = min(
                    [until, *(other.resets_at() + timedelta(seconds=1) for other in self.lanes)]
                )
                await self._pause(lane.client.seconds_until(wake))
                if self._stopping():
                    return False
                continue
            if lane.presence.waiting_until is not None:
                lane.presence.done_waiting()
                await self.store.set_waiting(lease, None)
            return True

    # -- one page ------------------------------------------------------------------------

    async def _start(self, held: _Held, start: Awaitable[Chunk | None]) -> Chunk | None:
        """Start a chunk and note it on `held`, even when the worker is cancelled meanwhile:
        the chunk exists then, and the cancellation (`_holding`) must settle it."""
        task = asyncio.ensure_future(start)
        try:
            held.chunk = await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                held.chunk = await task
            raise
        return held.chunk

    async def _one_page(self, held: _Held) -> bool:
        """Fetch and commit one page. True when this lease should be let go."""
        lease, key = held.lease, held.lease.backfill_state_id
        chunk = await self._start(held, self.store.start_chunk(lease, self.options.worker_id))
        if chunk is None:
            return True  # lease lost, paused, or finished
        size = self.page_sizes.get(key)
        client = held.lane.client
        # Refused PRs due again ride in this page's first query (none when no query is due).
        retry = [] if held.hand_out or held.handing_over else held.take_retry()
        if held.hand_out:  # what was fetched ahead and is complete: no request at all
            size, held.hand_out = min(size, held.hand_out), 0
        elif held.handing_over:  # what was fetched ahead, completed by follow-ups only
            size = min(
                size, max(1, client.fetched_ahead(lease.owner, lease.name, lease.claim_token))
            )
        fetched = await self._fetch(
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
        except Exception as exc:  # the database refused or blinked: never leave it `processing`
            reason = f"could not store the page: {type(exc).__name__}: {_first_line(exc)}"[:1000]
            log.warning("chunk %s: %s", chunk.chunk_number, reason, exc_info=not _outage(exc))
            return await self._apply(held, chunk, exc, size, reason=reason)
        if not result.committed:
            await self._not_stored(lease, chunk, "chunk", result.reason)
            return True
        resized = self.page_sizes.succeeded(key, page.slowest_seconds)
        if resized is not None:
            await self._remember_page_size(lease, resized)
        self.stats.pages += 1
        self.stats.prs_inserted += result.inserted_prs
        self._event(
            f"{lease.repository}: chunk {chunk.chunk_number} stored {result.upserted_prs} PRs "
            f"({result.processed_prs}/{result.total_prs or 0})"
        )
        self._report(lease, chunk, page, result)
        # A list that ended short of GitHub's count; at the end, the PRs left refused (this
        # page's refused ones were said above, and every page's summary would repeat it).
        summary = "PR(s) refused (see pull_request_failures)"  # refused_note()'s words
        if (
            result.note
            and not result.refused
            and (result.status != "active" or summary not in result.note)
        ):
            self._event(f"{lease.repository}: {result.note}")
        if result.status == "completed":
            self._event(f"{lease.repository}: completed")
        return result.status != "active"

    def _report(
        self, lease: Lease, chunk: Chunk, page: PullRequestPage, result: CommitResult | SyncResult
    ) -> None:
        """What a committed page held that was not simply stored, one line each in the event
        log: the PRs refused (by the pager, for GitHub's data, or by the database; recorded
        in pull_request_failures, retried alone later), the characters the store cannot hold
        replaced, and enum values GitHub added since this version (stored as sent)."""
        where = f"{lease.repository}: chunk {chunk.chunk_number}"
        if result.refused:
            first = result.refused[0]
            self._event(
                f"{where}: {len(result.refused)} PR(s) refused (see pull_request_failures), "
                f"the rest stored; #{first.get('number') or '?'}: {first.get('error')}"
            )
        if result.replaced_characters:
            self._event(
                f"{where}: {result.replaced_characters} character(s) the store cannot hold "
                "(U+0000, lone surrogates) stored as U+FFFD"
            )
        if page.unknown_values:
            self._event(
                f"{where}: {len(page.unknown_values)} value(s) GitHub added since this version, "
                f"stored as sent: {', '.join(page.unknown_values[:3])}"
            )

    async def _store(self, lease: Lease, chunk: Chunk, page: PullRequestPage) -> CommitResult:
        """Commit a page; a page the store's transport refuses as too large (PostgREST behind
        a gateway's body limit: HTTP 413) is split in halves, each its own chunk and its own
        transaction, the cursor moving only with the last; one PR too large alone is recorded
        as refused (pull_request_failures) and the chunk commits without it."""
        prs = list(page.pull_requests)
        refused = [bad.as_refusal() for bad in page.refused]  # recorded in the commit
        while True:
            await self.store.record_chunk_prs(chunk, [pr.number for pr in prs])
            try:
                return await self.store.commit_chunk(
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
                    await self.store.refuse_pull_request(chunk, pr.github_id, pr.number, str(exc))
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
            self._event(f"{lease.repository}: chunk {chunk.chunk_number} split (too large)")
            nxt = await self.store.start_chunk(lease, self.options.worker_id)
            if nxt is None:
                return CommitResult(committed=False, reason="lease lost")
            chunk = nxt

    async def _fetch(
        self, held: _Held, chunk: Chunk, size: int, fetch: Awaitable[PullRequestPage]
    ) -> PullRequestPage | bool:
        """The page, or (when there is none) whether the lease should be let go; every error
        ends in its outcome (`_apply`), never in a chunk left `processing`."""
        try:
            return await self._interruptible(fetch)
        except _Interrupted:  # cancelled: `_holding` records why
            await self._fail(chunk, self._cut_short(), counted=False)
            return True
        except GitHubError as exc:
            return await self._apply(held, chunk, exc, size)
        except Exception as exc:  # a bug or an unforeseen answer: never leave it `processing`
            log.warning("unexpected error fetching a page", exc_info=True)
            unexpected = GitHubError(f"unexpected error ({type(exc).__name__}: {exc})"[:500])
            return await self._apply(held, chunk, unexpected, size)

    async def _apply(
        self, held: _Held, chunk: Chunk, exc: Exception, size: int, reason: str | None = None
    ) -> bool:
        """Apply the outcome an error carries (`GitHubError.action`, decided by
        `core.github.outcomes`; any other error fails the chunk) to the chunk and the
        backfill, bounded: N failures in a row fail the backfill. True: let the lease go."""
        lease, key = held.lease, held.lease.backfill_state_id
        reason = reason or str(exc)
        action = exc.action if isinstance(exc, GitHubError) else Action.FAIL_CHUNK
        if action is Action.STOP:
            await self._fail(chunk, reason)
            raise exc
        # A sync that cannot go on leaves its repository completed and rests a while.
        rest = MAX_COOLDOWN if isinstance(lease, SyncLease) else 0
        if action is Action.FAIL_BACKFILL:
            await self._fail(chunk, reason, rest)
            await self._fail_backfill(lease, reason)
            return True
        if action is Action.WAIT:  # the limit outlasted the client's bounded waits
            cooldown = MAX_COOLDOWN
            if isinstance(exc, RateLimitedError):
                cooldown = int(min(MAX_COOLDOWN, held.lane.client.seconds_until(exc.reset_at) + 1))
            await self._fail(chunk, reason, max(1, cooldown))
            self._event(f"{lease.repository}: chunk {chunk.chunk_number} waits: {exc}")
            return True
        if action is Action.SHRINK:
            smaller = self.page_sizes.shrink(key)
            await self._remember_page_size(lease, smaller)
            # A smaller page is tried at once; the smallest failing again cools down.
            base = 0 if smaller < size else self.options.cooldown_base
            failure = await self._fail_in_a_row(lease, chunk, reason, base)
            if not failure.gave_up:
                self._event(f"{lease.repository}: {exc}; page size now {smaller}")
            return failure.gave_up or failure.cooldown_seconds > 0 or not failure.failed
        failure = await self._fail_in_a_row(lease, chunk, reason, self.options.cooldown_base)
        if not failure.gave_up:
            self._event(f"{lease.repository}: chunk {chunk.chunk_number} failed: {reason}")
        return True

    async def _fail_in_a_row(
        self, lease: Lease, chunk: Chunk, reason: str, cooldown_base: int
    ) -> ChunkFailure:
        """Fail the chunk as one more failure of its backfill in a row. The count lives in
        the database (`fail_chunk_in_a_row`), shared by every process and machine that takes
        a turn on the backfill: it doubles the cooldown from `cooldown_base` with each
        failure, and at `max_failures_in_a_row` fails the backfill (a sync gives up and
        rests); a committed page resets it."""
        self.stats.failures += 1
        failure = ChunkFailure()
        with contextlib.suppress(Exception):
            failure = await asyncio.shield(
                self.store.fail_chunk_in_a_row(
                    chunk,
                    reason,
                    cooldown_base,
                    max_failures_in_a_row=self.options.max_failures_in_a_row,
                )
            )
        if failure.gave_up:
            self.stats.gave_up += 1
            what = "sync failed" if isinstance(lease, SyncLease) else "failed"
            self._event(f"{lease.repository}: {what}: {failure.reason}")
        return failure

    async def _not_stored(self, lease: Lease, chunk: Chunk, kind: str, reason: str | None) -> None:
        """The database refused a page's commit: the lease was lost (expired, taken over,
        the backfill failed, retried or its repository removed) or recovery settled the chunk.
        The chunk is failed at once, fenced by its own claim token (`fail_chunk` changes
        nothing if recovery or a removal got there first, and never the next holder's
        backfill row), instead of staying `processing` until a recovery run finds it stuck
        and, seeing its PRs stored by the next holder, counts it completed. Not counted as
        the work's failure: the page was fine, the lease was not."""
        self._event(f"{lease.repository}: {kind} {chunk.chunk_number} not stored ({reason})")
        await self._fail(chunk, f"not stored: {reason or 'refused'}", counted=False)

    async def _remember_page_size(self, lease: Lease, size: int) -> None:
        """Store the size on the backfill: the next holder starts there (best effort)."""
        try:
            await self.store.remember_page_size(lease, size)
        except Exception as exc:
            log.warning("%s: page size not stored: %s", lease.repository, exc)

    async def _fail_backfill(self, lease: Lease, reason: str) -> None:
        self.stats.gave_up += 1
        if isinstance(lease, SyncLease):
            # A completed repository stays completed; its syncs rest (its lag shows it).
            self._event(f"{lease.repository}: sync failed: {reason}")
            return
        with contextlib.suppress(Exception):
            await asyncio.shield(self.store.fail_backfill(lease, reason))
        self._event(f"{lease.repository}: failed: {reason}")

    async def _fail(
        self, chunk: Chunk, error: str, cooldown: int = 0, *, counted: bool = True
    ) -> None:
        """Fail the chunk (its cursor stays). `counted`: a failure of the work, as opposed to
        the worker stopping (its deadline, a signal: not why nothing was stored)."""
        if counted:
            self.stats.failures += 1
        with contextlib.suppress(Exception):
            await asyncio.shield(self.store.fail_chunk(chunk, error, cooldown))

    # -- presence ------------------------------------------------------------------------

    async def _announce(self) -> None:
        while True:
            await self._announce_once("waiting" if self._waiting_until() else "running")
            await asyncio.sleep(self.options.heartbeat_interval)

    async def _announce_once(self, status: str) -> None:
        held = [lease for lane in self.lanes for lease in lane.presence.held.values()]
        detail = ", ".join(lease.repository for lease in held) or "idle"
        waiting_until = self._waiting_until()
        if status == "waiting" and waiting_until:
            detail = f"waiting for the GraphQL budget until {waiting_until:%H:%M:%S}"
        try:
            await self.store.worker_heartbeat(
                self.options.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                status=status,
                backfill_state_id=held[0].backfill_state_id if held else None,
                detail=detail,
            )
        except Exception as exc:
            log.warning("worker heartbeat failed: %s", exc)
