"""Walks through a repository's PRs, page by page, fetching ahead of the caller.

A walk buffers complete PRs (follow-ups fill nested lists over 100 in the same 1-point
queries) and, while the caller stores one page, fetches the next in the background, so
GitHub's time and the store's overlap instead of adding up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from core.github.errors import MalformedResponse, RateLimitedError, RepositoryNotFound
from core.github.http import Caller
from core.github.models import PullRequestPage, RetryRequest, unknown_values
from core.github.pager import RepoBuffer
from core.github.queries import (
    MAX_PAGE,
    REQUESTS_PER_POINT,
    PageRequest,
    batch_query,
    fill_size,
    retry_alias,
)

WalkKey = tuple[Hashable, ...]
# Runs one query about (owner, name) for a caller: its `data`, and GitHub's words for each
# item an error is located in (that item alone is refused).
ExecuteFor = Callable[
    [str, str, str, dict[str, Any], Caller],
    Awaitable[tuple[dict[str, Any], dict[int | str, str]]],
]

# What reading an answer of the wrong shape raises (pydantic's ValidationError is a ValueError).
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


def walk_key(owner: str, name: str, holder: Hashable | None, *, sync: bool = False) -> WalkKey:
    """Whose walk through a repository's PRs: the repository (GitHub's names are
    case-insensitive), a sync's or a backfill's, and its holder. Two holders of one backfill
    in one process (a slot whose lease ran out and the slot that took the backfill over, both
    on this client) each have their own buffer and fetch ahead: one never takes PRs the other
    fetched (the other's cursor, a page out of order) nor drops the other's walk."""
    return (
        owner.lower(),
        name.lower(),
        *(("sync",) if sync else ()),
        *((holder,) if holder is not None else ()),
    )


@dataclass
class _Walk:
    """One repository's walk through its PRs: where they are buffered and how to ask."""

    key: WalkKey
    owner: str
    name: str
    order: tuple[str, str]  # (field, direction) of GitHub's `orderBy`
    buffer: RepoBuffer


class LookAhead:
    """Every walk of one client: its buffers and the pages fetched in the background."""

    def __init__(self, execute_for: ExecuteFor) -> None:
        self._execute_for = execute_for
        self.buffers: dict[WalkKey, RepoBuffer] = {}
        # The next page of a walk, fetched in the background: (its cursor, the task, the PRs
        # it asks for).
        self.refills: dict[WalkKey, tuple[str | None, asyncio.Task[list[float]], int]] = {}

    def close(self) -> None:
        """Stop every fetch ahead (the client is closing)."""
        for key in list(self.refills):
            self._drop_refill(key)

    async def page(
        self,
        owner: str,
        name: str,
        *,
        after: str | None,
        page_size: int,
        ahead: bool,
        caller: Caller,
        since: datetime | None = None,
        holder: Hashable | None = None,
        retry: Sequence[RetryRequest] = (),
    ) -> PullRequestPage:
        """Up to `page_size` (clamped to 1..MAX_PAGE) complete PRs after cursor `after`:
        oldest first, or with `since` most recently updated first down to `since` (a sync).
        With `ahead` the next page is fetched in the background (a backfill's only). Raises
        `MalformedResponse` for an answer it cannot read, and what the query raised."""
        page_size = max(1, min(MAX_PAGE, page_size))
        key = walk_key(owner, name, holder, sync=since is not None)
        await self._refilled(key, after, caller)
        buffer = self.buffers.get(key)
        order = ("UPDATED_AT", "DESC") if since is not None else ("CREATED_AT", "ASC")
        if buffer is None or buffer.start_after != after or buffer.stop_below != since:
            buffer = RepoBuffer(after, stop_below=since, order=" ".join(order))
            self.buffers[key] = buffer
        buffer.queue_retries(retry)
        walk = _Walk(key, owner, name, order, buffer)
        await self._fill(walk, page_size, ahead=ahead, caller=caller)
        try:
            count = min(page_size, buffer.complete_prefix())
            prs, refused, end_cursor = buffer.take(count)
            result = PullRequestPage(
                pull_requests=prs,
                refused=refused,
                unknown_values=[value for pr in prs for value in unknown_values(pr)],
                end_cursor=end_cursor,
                has_next_page=buffer.has_next_page,
                total_count=buffer.total_count,
                cost=buffer.take_cost(),
            )
        except SHAPE_ERRORS as exc:
            self._malformed(key, owner, name, exc)
        if not buffer.has_next_page:
            self.buffers.pop(key, None)
        elif ahead and since is None:
            # Fetch the next page while the caller stores this one: GitHub's time and the
            # store's overlap instead of adding up (one backfill alone, or a store far away
            # such as PostgREST, otherwise leaves the budget idle for every commit). One
            # request at a time per repository still; the next call awaits it, and its
            # error, if any, is that call's.
            task = asyncio.create_task(self._refill(walk, page_size))
            self.refills[key] = (end_cursor, task, page_size)
        return result

    async def _fill(self, walk: _Walk, page_size: int, *, ahead: bool, caller: Caller) -> None:
        """Query until the buffer holds `page_size` complete PRs (or all there is), and every
        refused PR queued for a retry was asked for (riding in the same queries). `ahead`:
        buffer PRs beyond this page too."""
        buffer, key, owner, name = walk.buffer, walk.key, walk.owner, walk.name
        capacity = max(page_size * 3, 2 * MAX_PAGE)
        while buffer.retries or not (buffer.complete_prefix() >= page_size or buffer.exhausted):
            # New PRs fill the spare requests when a page rides along: the follow-ups are
            # then a repeatable count (the document's text repeats; the points are the same).
            fetching = buffer.has_more and len(buffer.entries) < (capacity if ahead else page_size)
            follow_ups = buffer.follow_ups(REQUESTS_PER_POINT - 1, repeatable=fetching)
            retries = buffer.next_retries()
            fresh = 0
            if fetching:
                fresh = fill_size(
                    sum(f.requests for f in follow_ups), page_size, retries=len(retries)
                )
            if fresh == 0 and not follow_ups and not retries:
                if buffer.entries and buffer.complete_prefix() == 0:
                    # Its first PR waits for pages nothing can ask for: never an empty page
                    # handed out again and again.
                    self._malformed(key, owner, name, ValueError("a PR that cannot be completed"))
                break  # buffer full of complete PRs beyond the page: hand them out
            page = PageRequest(owner, name, fresh, buffer.frontier, *walk.order) if fresh else None
            before = buffer.progress()
            query, variables = batch_query(page, follow_ups, retries, repository=(owner, name))
            try:
                data, item_errors = await self._execute_for(owner, name, query, variables, caller)
            except BaseException:
                buffer.retries[:0] = retries  # not asked after all: the next query asks
                raise
            if page is not None and data.get("repository") is None:
                raise RepositoryNotFound(owner, name)
            try:
                rate_limit = data.get("rateLimit")
                if isinstance(rate_limit, dict) and isinstance(rate_limit.get("cost"), int):
                    buffer.cost += rate_limit["cost"]
                if page is not None:
                    listed = {k: v for k, v in item_errors.items() if isinstance(k, int)}
                    buffer.add_page(data["repository"]["pullRequests"], page.after, listed)
                for i, follow in enumerate(follow_ups):
                    alias = f"f{i}"
                    buffer.apply_follow_up(follow, data.get(alias), item_errors.get(alias))
                for i, retry in enumerate(retries):
                    alias = retry_alias(i, retry)
                    buffer.apply_retry(retry, data.get(alias), item_errors.get(alias))
            except SHAPE_ERRORS as exc:
                self._malformed(key, owner, name, exc)
            if buffer.progress() == before:  # the same question would get the same answer
                self._malformed(key, owner, name, ValueError("an answer that makes no progress"))

    async def _refill(self, walk: _Walk, page_size: int) -> list[float]:
        """`_fill` for the next page, in the background; returns its response times. A
        spent points budget ends it quietly: waiting for the reset (or not) is the next
        call's, whose caller knows whether another backfill could use the time."""
        caller = Caller(ahead=True)
        with contextlib.suppress(RateLimitedError):
            await self._fill(walk, page_size, ahead=True, caller=caller)
        return caller.times

    async def _refilled(self, key: WalkKey, after: str | None, caller: Caller) -> None:
        """Wait for the background fetch of the page after `after`, if one runs: its error
        is raised here, and its response times count for this page (page sizing). One for
        another cursor (the caller went elsewhere) is dropped."""
        cursor, task, _ = self.refills.get(key, (None, None, 0))
        if task is None:
            return
        if cursor != after:
            self._drop_refill(key)
            return
        del self.refills[key]
        caller.times.extend(await task)

    def _drop_refill(self, key: WalkKey) -> None:
        """Stop the background fetch for `key` (its answer is not wanted any more)."""
        _, task, _ = self.refills.pop(key, (None, None, 0))
        if task is None:
            return
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved: an error nobody will act on is not reported
        else:
            task.cancel()

    def fetched_ahead(self, owner: str, name: str, holder: Hashable | None = None) -> int:
        """PRs already fetched for the repository's next pages (complete or awaiting
        follow-ups), or on their way: a page fetched in the background and not yet answered
        counts as the PRs it asks for."""
        key = walk_key(owner, name, holder)
        buffer = self.buffers.get(key)
        fetched = len(buffer.entries) if buffer is not None else 0
        _, task, asked = self.refills.get(key, (None, None, 0))
        if task is not None and not task.done():
            fetched = max(fetched, asked)
        return fetched

    async def ahead_arrived(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Wait until the page fetched ahead (if one is on its way) is answered, without
        taking it or its error."""
        _, task, _ = self.refills.get(walk_key(owner, name, holder), (None, None, 0))
        if task is not None:
            await asyncio.wait([task])

    def fetched_complete(self, owner: str, name: str, holder: Hashable | None = None) -> int:
        """Of `fetched_ahead`, the PRs at the front that need no follow-up."""
        buffer = self.buffers.get(walk_key(owner, name, holder))
        return buffer.complete_prefix() if buffer is not None else 0

    def forget(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Drop what `holder` fetched ahead for a repository (its backfill and sync walks)."""
        for key in (walk_key(owner, name, holder), walk_key(owner, name, holder, sync=True)):
            self._drop_refill(key)
            self.buffers.pop(key, None)

    def _malformed(self, key: WalkKey, owner: str, name: str, exc: Exception) -> NoReturn:
        """A page that cannot be read: forget everything buffered for it (it may be half
        folded in) and say so with a typed error; the caller fetches it again later."""
        self.buffers.pop(key, None)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise MalformedResponse(
            f"GitHub's answer for {owner}/{name} is not the shape asked for ({detail})"
        ) from None
