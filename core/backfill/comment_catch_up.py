"""Edits and deletions of comments GitHub does not signal on the pull request.

GitHub does not document that editing or deleting a comment moves its PR's `updatedAt`, so
the sync's walk by `updatedAt` can miss both. Per completed repository and per `Listing`
(conversation comments, `/issues/comments`; inline review comments, `/pulls/comments`,
docs.github.com/rest/pulls/comments#list-review-comments-in-a-repository), one rule for
both, through GitHub's REST API (its own budget, `core.github.rest`):

- the catch-up lists the comments updated since the repository's watermark
  (`GET /repos/{o}/{r}/issues/comments?since=W&sort=updated&direction=asc`, GitHub's
  docs.github.com/rest/issues/comments#list-issue-comments-for-a-repository) and applies
  them: edits, and new comments of PRs already stored (`Store.catch_up_comments`). Pages are
  walked by `since` itself (the next request starts at the newest `updated_at` seen), so a
  comment edited during the walk moves forward and is still read, never skipped by a shifted
  page number. The first page's ETag is stored with the page (when the listing fits on it)
  and given back by the plan: the next catch-up, in this process or any other, asks
  conditionally, and an unchanged repository's answer is a 304 (free, nothing to apply: the
  watermark only moves when newer comments are stored, so the URL is the same). Review
  comments apply as edits, and replies join their stored thread.
- the verification lists every comment id GitHub still has (sort=created, pages by `Link`,
  each conditional on its ETag: an unchanged page is a free 304) and deletes the stored ones
  it lacks, each first confirmed gone by `GET .../{issues|pulls}/comments/{id}` (404): a
  listing by page numbers can skip an item when another is deleted during it.

Each listing has its own watermark and verification stamp (`comment_catch_up_plan` gives one
row per repository and listing), so one listing's failure never holds the other back. The
store has one function per operation (`catch_up_comments`, `comment_deletion_candidates`,
`delete_comments`), each told the listing's kind; a `Listing` holds only what differs on
GitHub's side: the path and the shape of an item.

The schedule (`UPKEEP_HELP`, shown by `worker --help` and the README): workers catch up every
CATCH_UP_EVERY and verify every VERIFY_EVERY; `backfill-console sync` catches up at once and
`sync --verify` verifies at once. `run_worker` is the one place that puts the schedule
beside a worker's run (the `worker` and `backfill` commands both use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from core.github.rest import PER_PAGE, RestClient
from core.monitoring import REST_SUFFIX
from core.store.models import CatchUpPlan, StoredComment

log = logging.getLogger(__name__)

CATCH_UP_EVERY = timedelta(minutes=15)
VERIFY_EVERY = timedelta(hours=24)
# GitHub's clock and the database's may differ a little: the catch-up starts this much before
# its watermark, and a verification's listing counts as begun this much before it did.
CLOCK_MARGIN = timedelta(seconds=60)
MAX_CONFIRMATIONS = 200  # deletion candidates confirmed (one request each) per verification

UPKEEP_HELP = (
    "Edits and deletions of conversation comments and inline review comments GitHub does not "
    "signal on the PR: each worker (and `backfill`, once its work is done) catches up every "
    "completed repository's comments and review comments updated since their watermarks "
    f"every {int(CATCH_UP_EVERY.total_seconds() // 60)} minutes (REST, per repository 2 "
    "requests a run when nothing changed, one per listing, answered 304 and free in any "
    "process, their ETags kept in the database; a listing that changed costs 1 per 100 "
    "changed comments, and 1 more at the next run, from its moved watermark), and verifies "
    "deletions every "
    f"{int(VERIFY_EVERY.total_seconds() // 3600)} hours (one listing of every comment id and "
    "one of every review comment id, ceil(comments/100) + ceil(review comments/100) "
    "requests, unchanged pages 304 and free, +1 per deleted comment). Edits reach the "
    f"database within {int(CATCH_UP_EVERY.total_seconds() // 60)} minutes, deletions within "
    f"{int(VERIFY_EVERY.total_seconds() // 3600)} hours."
)


@dataclass(frozen=True)
class Listing:
    """One kind of comment GitHub lists per repository by REST: the kind the store's
    functions are told, the listing's path and how an item is stored."""

    kind: str  # CatchUpPlan.kind
    path: str  # format()ed with owner and name
    # a REST item as Store.catch_up_comments takes it for this kind
    shape: Callable[[Mapping[str, Any]], dict[str, Any]]


def _number(issue_url: str) -> int | None:
    tail = issue_url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def stored_comment(item: Mapping[str, Any]) -> dict[str, Any]:
    """A REST comment as `Store.catch_up_comments` takes it (kind "comments")."""
    user = item.get("user")
    author = None
    if user and user.get("node_id"):
        author = {
            "github_id": user["node_id"],
            "login": user.get("login") or "",
            "type": user.get("type") or "User",
            "database_id": user.get("id"),
        }
    return {
        "github_id": item["node_id"],
        "database_id": item.get("id"),
        "number": _number(item.get("issue_url") or item.get("pull_request_url") or ""),
        "body": item.get("body") or "",
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "url": item.get("html_url"),
        "author": author,
    }


def stored_review_comment(item: Mapping[str, Any]) -> dict[str, Any]:
    """A REST review comment as `Store.catch_up_comments` takes it (kind "review_comments"):
    a comment's fields and its place in the diff; `in_reply_to_id` and `review_database_id`
    are REST ids (GitHub's `in_reply_to_id`, `pull_request_review_id`)."""
    return stored_comment(item) | {
        "path": item.get("path"),
        "line": item.get("line"),
        "original_line": item.get("original_line"),
        "in_reply_to_id": item.get("in_reply_to_id"),
        "review_database_id": item.get("pull_request_review_id"),
    }


COMMENTS = Listing("comments", "/repos/{owner}/{name}/issues/comments", stored_comment)
REVIEW_COMMENTS = Listing(
    "review_comments", "/repos/{owner}/{name}/pulls/comments", stored_review_comment
)
LISTINGS: dict[str, Listing] = {listing.kind: listing for listing in (COMMENTS, REVIEW_COMMENTS)}


@dataclass
class UpkeepReport:
    """What one repository's catch-up or verification did; `requests` sent, of which
    `not_modified` answered 304 (free)."""

    repository: str
    kind: str = "catch_up"  # or "verify"
    listing: str = "comments"  # Listing.kind
    requests: int = 0
    not_modified: int = 0
    updated: int = 0
    inserted: int = 0
    listed: int = 0
    deleted: int = 0
    kept: int = 0  # candidates GitHub still had (the listing skipped them)
    left: int = 0  # candidates past MAX_CONFIRMATIONS, confirmed by the next verification


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def catch_up(store: Any, rest: RestClient, plan: CatchUpPlan) -> UpkeepReport:
    """Apply every comment of `plan`'s repository and listing (`plan.kind`) updated since its
    watermark (see the module); the watermark moves with each page stored. The first request
    is conditional on `plan.etag` (stored with the page it tags, so a 304 leaves nothing to
    apply: the run ends there, nothing written); the first page's ETag is stored with it when
    the listing fits on it (a 304 on a full page would not tell of the pages after it). The
    in-memory cache is not used: the stored ETag does its work in every process. Raises what
    `RestClient.get` raises (the watermark stays where the last stored page left it)."""
    listing = LISTINGS[plan.kind]
    report = UpkeepReport(plan.full_name, listing=listing.kind)
    path = listing.path.format(owner=plan.owner, name=plan.name)
    since = plan.since - CLOCK_MARGIN
    first = True
    while True:
        url: str | None = rest.url(path, since=_iso(since), sort="updated", direction="asc")
        newest = since
        full = False
        while url is not None:  # pages within one second only when a whole page shares it
            page = await rest.get(url, etag=plan.etag if first else None, cache=False)
            report.requests += 1
            report.not_modified += page.not_modified
            if page.not_modified:  # the stored page is GitHub's: nothing changed
                return report
            items = page.items
            full = len(items) >= PER_PAGE
            if items:
                newest = max(newest, max(_parse(i["updated_at"]) for i in items))
            if items or first:  # an empty first page is stored too: its ETag
                got = await store.catch_up_comments(
                    listing.kind,
                    plan.backfill_state_id,
                    [listing.shape(i) for i in items],
                    newest if items else None,
                    etag=page.etag if first and not full else None,
                    listed_since=plan.since,
                )
                report.updated += int(got.get("updated", 0))
                report.inserted += int(got.get("inserted", 0))
            first = False
            url = page.next_url if full and newest <= since else None
        if not full or newest <= since:
            return report
        since = newest


async def verify(
    store: Any, rest: RestClient, plan: CatchUpPlan, max_confirmations: int = MAX_CONFIRMATIONS
) -> UpkeepReport:
    """Delete the stored comments of `plan`'s repository and listing (`plan.kind`) GitHub no
    longer has (see the module); at most `max_confirmations` per run (the rest at the next).
    Past the cap a random sample is confirmed; when more are left (`report.left`) and this
    run deleted some, the stamp is cleared: due at once, the next run goes on. Raises what
    `RestClient.get` raises (nothing is deleted then)."""
    listing = LISTINGS[plan.kind]
    report = UpkeepReport(plan.full_name, "verify", listing=listing.kind)
    path = listing.path.format(owner=plan.owner, name=plan.name)
    listed_at = rest.clock.now() - CLOCK_MARGIN
    ids: list[str] = []
    async for page in rest.pages(rest.url(path, sort="created", direction="asc")):
        report.requests += 1
        report.not_modified += page.not_modified
        ids.extend(item["node_id"] for item in page.items)
    report.listed = len(ids)
    candidates: Sequence[StoredComment] = await store.comment_deletion_candidates(
        listing.kind, plan.backfill_state_id, ids, listed_at
    )
    gone: list[str] = []
    # Past the cap, a random sample: candidates GitHub still has (a listing that lacks items
    # it has) must not stand first at every run and starve the ones really gone.
    chosen = (
        random.sample(list(candidates), max_confirmations)
        if len(candidates) > max_confirmations
        else candidates
    )
    for stored in chosen:
        if stored.database_id is None or not await _exists(rest, f"{path}/{stored.database_id}"):
            gone.append(stored.github_id)
        else:
            report.kept += 1
        report.requests += stored.database_id is not None
    # Candidates past the cap wait for the next run. When this one deleted some (a mass
    # deletion under way), the stamp is cleared: due at a worker's next pass (a minute on),
    # not a day away. When it deleted none, every confirmed one was still on GitHub: running
    # again at once would only pay for those again, so the day's stamp is set.
    report.left = len(candidates) - len(chosen)
    report.deleted = await store.delete_comments(
        listing.kind, plan.backfill_state_id, gone, complete=not (report.left and gone)
    )
    return report


async def _exists(rest: RestClient, path: str) -> bool:
    """Whether GitHub still has the item (404/410: not)."""
    try:
        await rest.get(rest.base_url + path)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (404, 410):
            return False
        raise
    return True


@dataclass
class Upkeep:
    """Runs catch-ups and verifications for a process, one REST client per installation
    (None: personal tokens); `rest_for(installation_id)` gives it."""

    store: Any
    rest_for: Callable[[int | None], RestClient]
    # (backfill state, listing kind) -> when this process last caught it up
    last_catch_up: dict[tuple[UUID, str], datetime] = field(default_factory=dict)

    async def plans(self, only: Sequence[UUID] | None = None) -> list[CatchUpPlan]:
        plans = await self.store.comment_catch_up_plan()
        return [p for p in plans if only is None or p.backfill_state_id in only]

    async def run(
        self,
        *,
        only: Sequence[UUID] | None = None,
        verify_now: bool = False,
        now: datetime | None = None,
        catch_up_now: bool = True,
    ) -> list[UpkeepReport]:
        """One pass over every repository's listings: a catch-up of each (`catch_up_now`, else
        those not caught up by this process within CATCH_UP_EVERY), a verification of those
        never verified or not within VERIFY_EVERY (every one with `verify_now`). A listing's
        failure is logged and the others go on."""
        reports: list[UpkeepReport] = []
        used: dict[int, RestClient] = {}
        try:
            for plan in await self.plans(only):
                rest = self.rest_for(plan.installation_id)
                used[id(rest)] = rest
                await self._one(plan, rest, reports, verify_now, catch_up_now, now)
        finally:
            for rest in used.values():
                await self.publish(rest)
        return reports

    async def publish(self, rest: RestClient) -> None:
        """Store the REST budget the client last saw (stats, --json and the console's budget
        panel show it beside GraphQL's): a row keyed by the token's fingerprint + "/rest"."""
        b = rest.budget
        if b.limit is None or b.remaining is None or b.used is None or b.reset_at is None:
            return
        try:
            await self.store.record_rate_limit(
                rest.credential.fingerprint + REST_SUFFIX,
                remaining=b.remaining,
                limit=b.limit,
                used=b.used,
                reset_at=b.reset_at,
                queries=b.requests,
                credential=f"{rest.credential.name} (REST)",
                installation_id=rest.credential.installation_id,
            )
        except Exception as exc:  # a figure on a screen: never worth stopping the work
            log.warning("REST budget not published: %s", exc)

    async def _one(
        self,
        plan: CatchUpPlan,
        rest: RestClient,
        reports: list[UpkeepReport],
        verify_now: bool,
        catch_up_now: bool,
        now: datetime | None,
    ) -> None:
        """One repository's listing's upkeep, whatever is due; its failure is logged, not
        raised."""
        at = now or rest.clock.now()
        key = (plan.backfill_state_id, plan.kind)
        try:
            last = self.last_catch_up.get(key)
            if catch_up_now or last is None or at - last >= CATCH_UP_EVERY:
                reports.append(await catch_up(self.store, rest, plan))
                self.last_catch_up[key] = at
            if verify_now or plan.verified_at is None or at - plan.verified_at >= VERIFY_EVERY:
                reports.append(await verify(self.store, rest, plan))
        except Exception as exc:  # one listing's trouble stops only its upkeep
            log.warning("%s upkeep of %s failed: %s", plan.kind, plan.full_name, exc)


def requests_per_day(comments: int, changed_per_day: int = 0, deleted_per_day: int = 0) -> int:
    """REST requests one repository's listing costs a day on the stated schedule (304s
    included; they are free of the budget): catch-ups and one verification. A repository
    costs the sum over its listings (conversation comments, review comments)."""
    runs = int(timedelta(days=1) / CATCH_UP_EVERY)
    catch = runs + math.ceil(changed_per_day / PER_PAGE)
    check = max(1, math.ceil(comments / PER_PAGE)) * int(timedelta(days=1) / VERIFY_EVERY)
    return catch + check + deleted_per_day


def upkeep_for(
    store: Any,
    lanes: Sequence[Any],
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[Upkeep, list[RestClient]]:
    """An `Upkeep` whose REST clients are the lanes' credentials (one each, sharing the
    lane's server-time pacer: REST's time counts with GraphQL's in the token's ledger); a
    repository routed to an installation uses that installation's, others the first lane's.
    Returns the clients too: the caller closes them."""
    clients: dict[int | None, RestClient] = {}
    made: list[RestClient] = []
    for lane in lanes:
        credential = lane.credential or lane.client.credential
        rest = RestClient(base_url, credential, pacer=lane.client.pacer, transport=transport)
        made.append(rest)
        clients.setdefault(credential.installation_id, rest)
    first = made[0]

    def rest_for(installation_id: int | None) -> RestClient:
        return clients.get(installation_id, first)

    return Upkeep(store, rest_for), made


UPKEEP_TICK = 60.0  # seconds between a worker's looks at what is due


async def upkeep_loop(
    upkeep: Upkeep,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    only: Sequence[UUID] | None = None,
) -> None:
    """A worker's upkeep until cancelled: every UPKEEP_TICK, whatever is due (see
    `Upkeep.run`; `only`: those backfills, None every one); a pass that fails is logged and
    the loop goes on."""
    pause = sleep or asyncio.sleep
    while True:
        try:
            await upkeep.run(only=only, catch_up_now=False)
        except Exception as exc:  # the database away a moment: the next tick tries again
            log.warning("comment upkeep pass failed: %s", exc)
        await pause(UPKEEP_TICK)


@contextlib.asynccontextmanager
async def comment_upkeep(
    engine: Any, rest_api_url: str | None, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Upkeep | None]:
    """The engine's `Upkeep` (None, logged, when GitHub's REST root cannot be told from the
    settings: see `Settings.rest_api_url`); its REST clients are closed on the way out."""
    if rest_api_url is None:
        log.warning("comment upkeep off: GitHub's REST API root is unknown (set GITHUB_API_URL)")
        yield None
        return
    upkeep, clients = upkeep_for(engine.store, engine.lanes, rest_api_url, transport=transport)
    try:
        yield upkeep
    finally:
        for client in clients:
            await client.aclose()


async def alongside(
    upkeep: Upkeep | None,
    work: Awaitable[Any],
    *,
    until_idle: bool,
    only: Sequence[UUID] | None = None,
) -> Any:
    """Run `work` (a worker's run) with the upkeep on its schedule beside it; a worker that
    stops when idle does one pass of what is due after its work instead (`only`: of those
    backfills, None every one). Returns `work`'s result."""
    if upkeep is None:
        return await work
    if until_idle:
        result = await work
        await upkeep.run(only=only, catch_up_now=False)
        return result
    loop = asyncio.create_task(upkeep_loop(upkeep, only=only))
    try:
        return await work
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def run_worker(
    engine: Any,
    worker: Any,
    rest_api_url: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Any:
    """`worker.run()` (a `core.backfill.worker.Worker` of `engine`) with the comment upkeep on
    its schedule (UPKEEP_HELP): beside the run, or one pass of what is due after it when the
    worker stops when idle. The one place the `worker` and `backfill` commands take the
    schedule from. Off when the worker does not sync (`sync_every` 0 or None: the upkeep is
    part of keeping completed repositories fresh) or when `rest_api_url` is None. Returns the
    run's `WorkerStats`. A worker limited to some backfills (`only`) keeps up only theirs."""
    options = worker.options
    root = rest_api_url if options.sync_every else None
    async with comment_upkeep(engine, root, transport=transport) as upkeep:
        return await alongside(
            upkeep, worker.run(), until_idle=options.until_idle, only=options.only or None
        )
