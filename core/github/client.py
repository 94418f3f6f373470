"""GitHub GraphQL client that knows its point budget.

One client per token, shared by every worker of a process: it caps requests in flight, tracks
the budget from every response, checks it before sending, waits for resets (by default) instead
of pausing forever, retries what is worth retrying within bounds, and maps every failure to one
error type from `core.github.errors`. The token lives in a `SecretStr` and is only ever put in
the request header, so it cannot leak through logs, errors or reprs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from core.config import GITHUB_GRAPHQL_URL
from core.github.cost import estimate_cost
from core.github.errors import (
    AuthenticationError,
    GitHubError,
    GraphQLError,
    MalformedResponse,
    RateLimitedError,
    RepositoryNotFound,
    ResourceLimitsExceeded,
    SecondaryRateLimitError,
    TransientError,
)
from core.github.metrics import MAX_RESET_AHEAD, BudgetTracker, RateLimitMetrics
from core.github.models import PullRequestPage
from core.github.pager import RepoBuffer
from core.github.queries import (
    COUNT_QUERY,
    DRY_RUN_QUERY,
    MAX_PAGE,
    REQUESTS_PER_POINT,
    PageRequest,
    batch_query,
    fill_size,
)
from core.secrets import fingerprint

log = logging.getLogger("core.github")

MetricsCallback = Callable[[RateLimitMetrics], Awaitable[None] | None]
WaitCallback = Callable[[datetime, str], Awaitable[None] | None]

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
PRIMARY_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
SECONDARY_MIN_WAIT = 60.0
TRANSIENT_BASE_WAIT = 1.0
TRANSIENT_MAX_WAIT = 30.0
# What reading an answer of the wrong shape raises (pydantic's ValidationError is a ValueError).
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


class _PrimaryLimited(Exception):
    """Internal: GitHub said the primary budget is spent until `reset_at`."""

    def __init__(self, reset_at: datetime, message: str) -> None:
        super().__init__(message)
        self.reset_at = reset_at


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


class GitHubClient:
    """Async GraphQL client for one token (GitHub, GitHub Enterprise Server or the simulator)."""

    def __init__(
        self,
        token: SecretStr | str,
        url: str = GITHUB_GRAPHQL_URL,
        *,
        min_remaining: int = 500,
        max_in_flight: int = 2,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_rate_limit: MetricsCallback | None = None,
        wait_on_rate_limit: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_retries: int = 5,
        on_wait: WaitCallback | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.url = url
        self.min_remaining = min_remaining
        self.max_retries = max_retries
        self.wait_on_rate_limit = wait_on_rate_limit
        self._on_rate_limit = on_rate_limit
        self._on_wait = on_wait
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._fingerprint = fingerprint(self._token)
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._budget = BudgetTracker(now=self._now)
        self._reserved = 0  # estimated points of requests in flight, not yet reported
        self._dry_run_lock = asyncio.Lock()
        self._buffers: dict[tuple[str, str], RepoBuffer] = {}
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"GitHubClient(url={self.url!r}, token={self._fingerprint})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def token_fingerprint(self) -> str:
        return self._fingerprint

    @property
    def metrics(self) -> RateLimitMetrics | None:
        return self._budget.snapshot()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- budget -----------------------------------------------------------------------------

    async def check_rate_limit_before_query(
        self, estimated_cost: int, min_remaining: int | None = None
    ) -> None:
        """Raise `RateLimitedError` (sending nothing) if the query would dig into the reserve.

        Uses what earlier responses reported; only when nothing is known yet does it send one
        `rateLimit(dryRun: true)`. After `reset_at` the budget is full again, so it passes.
        """
        if not self._budget.known:
            await self._dry_run()
        self._check(estimated_cost, self.min_remaining if min_remaining is None else min_remaining)

    def _check(self, estimated_cost: int, min_remaining: int) -> None:
        budget = self._budget
        if budget.remaining is None or budget.reset_at is None:
            return  # nothing could be learnt: let GitHub answer for itself
        now = self._now()
        if now >= budget.reset_at:
            return
        available = budget.remaining - self._reserved
        limit = budget.limit if budget.limit is not None else budget.remaining
        # A query too big for the reserve even on a full budget still runs right after a reset.
        reserve = min(min_remaining, max(0, limit - estimated_cost))
        if available - estimated_cost < reserve:
            raise RateLimitedError(
                f"GraphQL budget too low: {available} points left, query needs ~{estimated_cost},"
                f" {reserve} kept in reserve; resets at {budget.reset_at:%Y-%m-%d %H:%M:%S} UTC",
                reset_at=budget.reset_at,
                remaining=available,
                estimated_cost=estimated_cost,
                now=now,
            )

    async def _dry_run(self) -> None:
        async with self._dry_run_lock:
            if self._budget.known:
                return
            payload = await self._send(DRY_RUN_QUERY, None)
            data = payload.get("data")
            if isinstance(data, dict):
                self._budget.observe_rate_limit(data.get("rateLimit"), dry_run=True)
            await self._publish()

    async def _wait_until(self, until: datetime, reason: str) -> None:
        log.info("github %s: waiting until %s (%s)", self._fingerprint, until.isoformat(), reason)
        if self._on_wait is not None:
            await _maybe_await(self._on_wait(until, reason))
        await self._sleep(max(0.0, (until - self._now()).total_seconds()))

    async def _publish(self) -> None:
        snapshot = self._budget.snapshot()
        if snapshot is None or self._on_rate_limit is None:
            return
        try:
            await _maybe_await(self._on_rate_limit(snapshot))
        except Exception as exc:  # persisting metrics must never stop a backfill
            log.warning(
                "github %s: on_rate_limit failed: %s", self._fingerprint, type(exc).__name__
            )

    # -- queries ----------------------------------------------------------------------------

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query: pre-flight, bounded retries, error mapping. Returns its `data`."""
        cost = estimate_cost(query, variables).cost
        limited = 0
        while True:
            await self._reserve(cost)
            try:
                payload = await self._send(query, variables)
            except _PrimaryLimited as exc:
                limited += 1
                reset_at = exc.reset_at
                if not self.wait_on_rate_limit or limited > self.max_retries:
                    raise RateLimitedError(
                        f"GitHub says the GraphQL budget is spent; resets at "
                        f"{reset_at:%Y-%m-%d %H:%M:%S} UTC",
                        reset_at=reset_at,
                        remaining=0,
                        estimated_cost=cost,
                        now=self._now(),
                    ) from None
                continue_after = reset_at + timedelta(seconds=1)
                await self._wait_until(continue_after, "GraphQL rate limit")
                continue
            finally:
                self._reserved -= cost
            data = payload.get("data")
            if isinstance(data, dict):
                self._budget.observe_rate_limit(data.get("rateLimit"))
            await self._publish()
            _raise_for_errors(payload)
            if not isinstance(data, dict):
                raise TransientError("GitHub answered without data", attempts=1)
            return data

    async def _reserve(self, cost: int) -> None:
        """Wait (or raise) until the budget allows `cost`, then count it as in flight."""
        while True:
            try:
                await self.check_rate_limit_before_query(cost)
            except RateLimitedError as exc:
                if not self.wait_on_rate_limit:
                    raise
                await self._wait_until(exc.reset_at + timedelta(seconds=1), "GraphQL budget")
                continue
            self._reserved += cost
            return

    async def _send(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        """POST once per attempt; retries transient failures and secondary limits within bounds."""
        transient = secondary = 0
        body = {"query": query, "variables": variables or {}}
        while True:
            problem: str | None = None
            status: int | None = None
            try:
                async with self._in_flight:
                    self.requests_sent += 1
                    response = await self._http.post(
                        self.url,
                        json=body,
                        headers={
                            "Authorization": f"bearer {self._token.get_secret_value()}",
                            "Accept": "application/json",
                        },
                    )
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                self._budget.observe_headers(response.headers)
                kind, payload, message = self._classify(response)
                if kind == "ok":
                    return payload
                if kind == "secondary":
                    secondary += 1
                    retry_after = _retry_after(response.headers, self._now())
                    if secondary > self.max_retries:
                        raise SecondaryRateLimitError(
                            f"GitHub's secondary rate limit persisted after {secondary} tries",
                            retry_after=retry_after,
                            attempts=secondary,
                        )
                    await self._wait_until(
                        self._now()
                        + timedelta(seconds=self._secondary_wait(retry_after, secondary)),
                        "GitHub secondary rate limit",
                    )
                    continue
                problem = message
            transient += 1
            if transient > self.max_retries:
                raise TransientError(
                    f"GitHub request failed {transient} times ({problem}); try a smaller page",
                    attempts=transient,
                    status=status,
                )
            delay = min(TRANSIENT_MAX_WAIT, TRANSIENT_BASE_WAIT * 2 ** (transient - 1))
            delay += self._rng.uniform(0, delay / 2)
            log.warning(
                "github %s: %s; retry %d/%d in %.1fs",
                self._fingerprint,
                problem,
                transient,
                self.max_retries,
                delay,
            )
            await self._sleep(delay)

    def _secondary_wait(self, retry_after: float | None, attempt: int) -> float:
        if retry_after is not None:
            return retry_after
        remaining, reset_at = self._budget.remaining, self._budget.reset_at
        if remaining == 0 and reset_at is not None and reset_at > self._now():
            return (reset_at - self._now()).total_seconds() + 1
        base = SECONDARY_MIN_WAIT * 2 ** (attempt - 1)
        return base + self._rng.uniform(0, base / 4)

    def _classify(self, response: httpx.Response) -> tuple[str, dict[str, Any], str]:
        """('ok'|'secondary'|'transient', payload, problem) or raise for fatal answers."""
        status = response.status_code
        payload: Any = None
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            payload = None
        message = str(payload.get("message") or "") if isinstance(payload, dict) else ""
        if status == 401:
            raise AuthenticationError(
                "GitHub rejected the token (401 Bad credentials): "
                "set a valid, unrevoked token in GITHUB_TOKEN"
            )
        if status in (403, 429) or (status == 200 and "secondary rate limit" in message.lower()):
            if "secondary rate limit" in message.lower() or "abuse" in message.lower():
                return "secondary", {}, message
            if response.headers.get("retry-after") is not None:
                return "secondary", {}, message
            if response.headers.get("x-ratelimit-remaining") == "0":
                raise _PrimaryLimited(self._reset_from(response), message)
            raise GitHubError(
                f"GitHub refused the request (HTTP {status}): {message or 'forbidden'}; "
                "check the scopes of GITHUB_TOKEN"
            )
        if status in TRANSIENT_STATUSES:
            return "transient", {}, f"HTTP {status}"
        if status == 404:
            raise GitHubError(
                f"no GraphQL endpoint at {self.url} (HTTP 404): check GITHUB_GRAPHQL_URL"
            )
        if status != 200:
            raise GitHubError(f"GitHub answered HTTP {status}: {message or 'unexpected status'}")
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            return "transient", {}, "malformed JSON body"
        if not isinstance(payload.get("errors") or [], list) or not isinstance(
            payload.get("data"), dict | None
        ):
            raise MalformedResponse("GitHub answered with `data` or `errors` of the wrong type")
        if any(_is_primary(e) for e in payload.get("errors") or []):
            raise _PrimaryLimited(self._reset_from(response), "rate limited")
        return "ok", payload, ""

    def _reset_from(self, response: httpx.Response) -> datetime:
        header = response.headers.get("x-ratelimit-reset")
        if header and header.strip().isdigit():
            reset = datetime.fromtimestamp(int(header), UTC)
        elif self._budget.reset_at is not None:
            reset = self._budget.reset_at
        else:
            reset = self._now() + timedelta(seconds=SECONDARY_MIN_WAIT)
        self._budget.observe(remaining=0, reset_at=reset, limit=self._budget.limit)
        return self._budget.reset_at or reset  # as far as the tracker believes it

    # -- repositories -----------------------------------------------------------------------

    async def repository_pull_request_count(self, owner: str, name: str) -> int:
        """GitHub's `totalCount` of PRs (every state): what a complete backfill must reach."""
        try:
            data = await self.execute(COUNT_QUERY, {"owner": owner, "name": name})
        except GraphQLError as exc:
            if exc.type == "NOT_FOUND":
                raise RepositoryNotFound(owner, name) from None
            raise
        repo = data.get("repository")
        if repo is None:
            raise RepositoryNotFound(owner, name)
        try:
            count = repo["pullRequests"]["totalCount"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"totalCount is {count!r}")
        except SHAPE_ERRORS as exc:
            raise MalformedResponse(f"GitHub's PR count for {owner}/{name}: {exc}") from None
        return count

    async def fetch_pull_requests_page(
        self, owner: str, name: str, *, after: str | None, page_size: int, ahead: bool = True
    ) -> PullRequestPage:
        """Up to `page_size` complete PRs after cursor `after`, oldest first.

        Nested reviews/comments/labels come 100 at a time (free under the cost rule); longer
        ones are completed by aliased `node(id:)` follow-ups that share 1-point queries with
        PRs fetched ahead for the next page. Nothing is truncated. With `ahead=False` no PR
        beyond this page is fetched (a holder about to let the backfill go).
        """
        page_size = max(1, min(MAX_PAGE, page_size))
        key = (owner.lower(), name.lower())
        buffer = self._buffers.get(key)
        if buffer is None or buffer.start_after != after:
            buffer = RepoBuffer(after)
            self._buffers[key] = buffer
        spent = 0
        capacity = max(page_size * 3, 2 * MAX_PAGE)
        while not (buffer.complete_prefix() >= page_size or buffer.exhausted):
            follow_ups = buffer.follow_ups(min(REQUESTS_PER_POINT, 2 * page_size))
            fresh = 0
            if buffer.has_more and len(buffer.entries) < (capacity if ahead else page_size):
                fresh = fill_size(len(follow_ups), page_size)
            if fresh == 0 and not follow_ups:
                break  # buffer full of complete PRs beyond the page: hand them out
            page = PageRequest(owner, name, fresh, buffer.frontier) if fresh else None
            before = buffer.progress()
            query, variables = batch_query(page, follow_ups)
            try:
                data = await self.execute(query, variables)
            except GraphQLError as exc:
                if exc.type == "NOT_FOUND" and exc.path and exc.path[0] == "repository":
                    raise RepositoryNotFound(owner, name) from None
                raise
            if page is not None and data.get("repository") is None:
                raise RepositoryNotFound(owner, name)
            try:
                rate_limit = data.get("rateLimit")
                if isinstance(rate_limit, dict) and isinstance(rate_limit.get("cost"), int):
                    spent += rate_limit["cost"]
                if page is not None:
                    buffer.add_page(data["repository"]["pullRequests"])
                for i, follow in enumerate(follow_ups):
                    buffer.apply_follow_up(follow, data.get(f"f{i}"))
            except SHAPE_ERRORS as exc:
                self._malformed(key, owner, name, exc)
            if buffer.progress() == before:  # the same question would get the same answer
                self._malformed(key, owner, name, ValueError("an answer that makes no progress"))
        try:
            count = min(page_size, buffer.complete_prefix())
            prs, end_cursor = buffer.take(count)
            result = PullRequestPage(
                pull_requests=prs,
                end_cursor=end_cursor,
                has_next_page=buffer.has_next_page,
                total_count=buffer.total_count,
                cost=spent,
            )
        except SHAPE_ERRORS as exc:
            self._malformed(key, owner, name, exc)
        if not buffer.has_next_page:
            self._buffers.pop(key, None)
        return result

    def fetched_ahead(self, owner: str, name: str) -> int:
        """PRs already fetched for the repository's next pages (complete or awaiting
        follow-ups). Another worker taking the backfill over would fetch (and pay for) them
        again, so a holder hands them out before it lets go."""
        buffer = self._buffers.get((owner.lower(), name.lower()))
        return len(buffer.entries) if buffer is not None else 0

    def forget(self, owner: str, name: str) -> None:
        """Drop what was fetched ahead for a repository this client no longer works on."""
        self._buffers.pop((owner.lower(), name.lower()), None)

    def _malformed(self, key: tuple[str, str], owner: str, name: str, exc: Exception) -> NoReturn:
        """A page that cannot be read: forget everything buffered for it (it may be half
        folded in) and say so with a typed error; the caller fetches it again later."""
        self._buffers.pop(key, None)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise MalformedResponse(
            f"GitHub's answer for {owner}/{name} is not the shape asked for ({detail})"
        ) from None


def _is_primary(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    if error.get("type") in PRIMARY_TYPES or error.get("code") == "graphql_rate_limit":
        return True
    message = str(error.get("message") or "").lower()
    return "rate limit" in message and "secondary" not in message and "exceeded" in message


def _raise_for_errors(payload: dict[str, Any]) -> None:
    errors = [e for e in payload.get("errors") or [] if isinstance(e, dict)]
    if not errors:
        return
    for error in errors:
        if error.get("type") == "RESOURCE_LIMITS_EXCEEDED":
            raise ResourceLimitsExceeded(
                f"GitHub found the query too heavy ({error.get('message', '')}); use a smaller page"
            )
    first = errors[0]
    message = str(first.get("message") or "GraphQL error")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    extensions = first.get("extensions")
    error_type = first.get("type") or (
        extensions.get("code") if isinstance(extensions, dict) else None
    )
    path = first.get("path")
    raise GraphQLError(
        message,
        type=error_type if isinstance(error_type, str) else None,
        path=path if isinstance(path, list) else None,
    )


def _retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(0.0, seconds), MAX_RESET_AHEAD.total_seconds())  # days: a wrong header
