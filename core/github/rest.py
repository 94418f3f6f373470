"""GitHub's REST API, for the listings GraphQL cannot give (a repository's comments updated
since a time, every comment id it still has), with REST's budget treated as GraphQL's is.

GitHub's rules followed (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
/best-practices-for-using-the-rest-api, /using-pagination-in-the-rest-api):
- REST's primary budget (`x-ratelimit-resource: core`, 5,000 requests an hour per token or
  installation) is separate from GraphQL's; every answer's `x-ratelimit-*` headers are read,
  and `reserve` requests are kept back: below it the client waits (visibly, a log line and
  `on_wait`) until `x-ratelimit-reset`.
- A secondary limit (403 or 429 naming it, or any 403/429 with `retry-after`) is waited out
  for `retry-after` seconds, else at least a minute, doubling, at most `max_retries` times.
- A conditional request (`If-None-Match` with the page's last `ETag`) answered 304 costs
  nothing. A caller that keeps an ETag itself (the comment catch-up stores its first page's
  in the database, so a new process asks conditionally too) passes it to `get`; otherwise
  each URL's ETag and items are kept in memory (`cache`), which spares a long-lived worker's
  daily verification its unchanged pages. GitHub's ETags are specific to the token that got
  them (an App installation's token is renewed hourly): a stale one is answered 200 and
  costs what an unconditional request costs, never a wrong 304.
- Pages follow the `Link` header's rel="next"; `per_page` is 100, REST's largest.
- Redirects are followed (a renamed or transferred repository's old name is answered 301);
  the token is never sent to another origin.
- Each request's response time goes through the token's `ServerTimePacer` (shared with its
  GraphQL requests and, through the pacer's ledger, with every process on the token):
  GitHub's secondary limit counts REST's server time with GraphQL's.
The token is only ever put in the request header; a fault is classified as GraphQL's
(`core.github.errors`): blips retried with backoff, then `TransientError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.github.clock import GitHubClock
from core.github.credentials import Credential
from core.github.errors import (
    AuthenticationError,
    RateLimitedError,
    SecondaryRateLimitError,
    TransientError,
)
from core.github.pacing import ServerTimePacer

log = logging.getLogger("core.github.rest")

PER_PAGE = 100  # REST's largest page
REST_RESERVE = 100  # requests of the hourly `core` budget kept back (of 5,000)
SECONDARY_MIN_WAIT = 60.0  # GitHub: without retry-after, wait at least a minute
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


@dataclass
class RestBudget:
    """REST's budget as the latest answer's headers gave it (None before any answer)."""

    resource: str = "core"
    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset_at: datetime | None = None
    requests: int = 0  # sent by this client
    not_modified: int = 0  # of which answered 304 (free)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "limit": self.limit,
            "remaining": self.remaining,
            "used": self.used,
            "reset_at": self.reset_at.isoformat() if self.reset_at else None,
            "requests": self.requests,
            "not_modified": self.not_modified,
        }


@dataclass(frozen=True)
class RestPage:
    """One page: its items, whether GitHub answered 304 (free; the items are the cached ones,
    or empty when the caller's own ETag matched and nothing is cached), the next page's URL,
    GitHub's `Date` (its clock when it answered) and the page's `ETag`."""

    items: list[Any]
    not_modified: bool
    next_url: str | None
    date: datetime | None
    etag: str | None = None


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of a `Link` header, or None (the last page)."""
    for part in (header or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class RestClient:
    """One credential's REST requests to `base_url` (e.g. https://api.github.com)."""

    def __init__(
        self,
        base_url: str,
        credential: Credential,
        *,
        pacer: ServerTimePacer | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        reserve: int = REST_RESERVE,
        max_retries: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[datetime, str], Any] | None = None,
    ) -> None:
        """`pacer`: the token's server-time pacer (its GraphQL client's), so REST's time is
        counted with GraphQL's; `reserve`: REST requests kept back; `on_wait(until, reason)`
        hears of every wait before it starts."""
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.pacer = pacer
        self.reserve = reserve
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = GitHubClock(clock)
        self.on_wait = on_wait
        self.budget = RestBudget()
        self.cache: dict[str, tuple[str, list[Any]]] = {}  # url -> (etag, items)
        # GitHub answers a renamed or transferred repository's old name with 301 and the new
        # place ("follow redirects", REST best practices); GraphQL resolves the old name, so
        # the stored name stays the old one and every upkeep request would fail without this.
        # httpx drops the Authorization header on a redirect to another origin.
        self._client = httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=True
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def url(self, path: str, **params: Any) -> str:
        """`base_url` + `path` with `params` (None left out) and per_page=100."""
        query = {"per_page": PER_PAGE} | {k: v for k, v in params.items() if v is not None}
        return str(httpx.URL(self.base_url + path, params=query))

    async def pages(self, url: str) -> AsyncIterator[RestPage]:
        """Every page from `url` on, following `Link` rel="next"."""
        next_url: str | None = url
        while next_url is not None:
            page = await self.get(next_url)
            yield page
            next_url = page.next_url

    async def get(self, url: str, *, etag: str | None = None, cache: bool = True) -> RestPage:
        """One page: conditional on `etag` when given, else on its cached ETag (304: free;
        the cached items if the cache holds that ETag, else none); `cache` False neither
        reads nor fills the in-memory cache. Waits for the reserve and secondary limits as the
        module says. Raises `AuthenticationError`
        (401), `SecondaryRateLimitError` (still limited after `max_retries` waits),
        `RateLimitedError` (GitHub still says the budget is spent after `max_retries` waits),
        `TransientError` (5xx or no answer, `max_retries` times), or `httpx.HTTPStatusError`
        for any other refusal (404, 422...)."""
        transient = secondary = limited = 0
        while True:
            await self._wait_for_reserve()
            cached = self.cache.get(url) if cache else None
            asked = etag if etag is not None else (cached[0] if cached is not None else None)
            headers = {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Authorization": f"bearer {(await self.credential.token()).get_secret_value()}",
            }
            if asked is not None:
                headers["If-None-Match"] = asked
            ticket = await self.pacer.acquire() if self.pacer is not None else None
            try:
                self.budget.requests += 1
                response = await self._client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                response = None
                error = f"{type(exc).__name__}: {exc}"
            finally:
                if ticket is not None and self.pacer is not None:
                    await self.pacer.finish(ticket)
            if response is not None:
                self.clock.observe(response.headers)
                self._observe(response.headers)
                status = response.status_code
                if status == 304 and asked is not None:
                    self.budget.not_modified += 1
                    known = cached is not None and cached[0] == asked
                    return RestPage(
                        cached[1] if known and cached is not None else [],
                        True,
                        next_link(response.headers.get("link")),
                        self._date(response),
                        asked,
                    )
                if status == 200:
                    items = response.json()
                    tag = response.headers.get("etag")
                    if tag and cache:
                        self.cache[url] = (tag, items)
                    return RestPage(
                        items,
                        False,
                        next_link(response.headers.get("link")),
                        self._date(response),
                        tag,
                    )
                if status == 401:
                    raise AuthenticationError(f"{self.credential.name}: GitHub answered 401 (REST)")
                if status in (403, 429) and self._secondary(response):
                    secondary += 1
                    if secondary > self.max_retries:
                        raise SecondaryRateLimitError(
                            f"GitHub's secondary rate limit (REST) persisted after {secondary} "
                            "tries",
                            retry_after=_retry_after(response),
                            attempts=secondary,
                        )
                    after = _retry_after(response)
                    wait = after if after is not None else SECONDARY_MIN_WAIT * 2 ** (secondary - 1)
                    await self._wait(
                        self.clock.now() + timedelta(seconds=wait),
                        "GitHub secondary rate limit (REST)",
                    )
                    continue
                if status in (403, 429) and self.budget.remaining == 0:
                    limited += 1
                    await self._wait_spent(limited)
                    continue
                if status not in TRANSIENT_STATUSES:
                    response.raise_for_status()
                error = f"HTTP {status}"
            transient += 1
            if transient > self.max_retries:
                raise TransientError(
                    f"GitHub REST request failed {transient} times ({error})", attempts=transient
                )
            await self.sleep(min(30.0, 2.0 ** (transient - 1)))

    def _observe(self, headers: httpx.Headers) -> None:
        """The budget from an answer's x-ratelimit-* headers (absent ones change nothing)."""
        b = self.budget
        b.resource = headers.get("x-ratelimit-resource", b.resource)
        for name in ("limit", "remaining", "used"):
            value = headers.get(f"x-ratelimit-{name}", "")
            if value.isdigit():
                setattr(b, name, int(value))
        reset = headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            b.reset_at = datetime.fromtimestamp(int(reset), UTC)

    async def _wait_spent(self, limited: int) -> None:
        """GitHub answered that the budget is spent (the `limited`th time for this request):
        as the GraphQL gate, never ask again before its reset nor in the same instant, even
        when the reset looks past (whole seconds; GitHub's counter may reset a little after
        it), a minute when no reset is known; `RateLimitedError` past `max_retries`."""
        now = self.clock.now()
        reset = self.budget.reset_at
        if limited > self.max_retries:
            raise RateLimitedError(
                f"GitHub says the REST budget is still spent after {limited} tries",
                reset_at=reset if reset is not None and reset > now else now,
                remaining=0,
                now=now,
            )
        until = (
            max(reset, now) + timedelta(seconds=1)
            if reset is not None
            else now + timedelta(seconds=SECONDARY_MIN_WAIT)
        )
        await self._wait(until, "REST budget (GitHub answered that it is spent)")
        self.budget.remaining = None  # the next answer tells

    async def _wait_for_reserve(self) -> None:
        """Below the reserve, wait for the budget's reset (GitHub's clock)."""
        b = self.budget
        if b.remaining is None or b.remaining > self.reserve or b.reset_at is None:
            return
        if b.reset_at <= self.clock.now():
            b.remaining = None  # a new hour: the next answer tells
            return
        await self._wait(b.reset_at, f"REST budget ({b.remaining} left, reserve {self.reserve})")
        b.remaining = None

    async def _wait(self, until: datetime, reason: str) -> None:
        seconds = self.clock.seconds_until(until)
        log.warning(
            "%s: waiting until %s UTC (%.0f s) for %s; Ctrl-C stops",
            self.credential.name,
            f"{until:%H:%M:%S}",
            seconds,
            reason,
        )
        if self.on_wait is not None:
            result = self.on_wait(until, reason)
            if asyncio.iscoroutine(result):
                await result
        await self.sleep(seconds)

    def _secondary(self, response: httpx.Response) -> bool:
        """GitHub's secondary limit: retry-after, or a message naming it."""
        if response.headers.get("retry-after") is not None:
            return True
        return "secondary rate limit" in response.text.lower()

    def _date(self, response: httpx.Response) -> datetime | None:
        from email.utils import parsedate_to_datetime

        date = response.headers.get("date")
        try:
            return parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
