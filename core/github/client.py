"""GitHub GraphQL client that knows its point budget.

One client per token, shared by every worker of a process: it caps requests in flight, tracks
the budget from every response, checks it before sending, waits for resets (by default) instead
of pausing forever, retries what is worth retrying within bounds, and maps every failure to one
error type from `core.github.errors`. The token lives in a `SecretStr` and is only ever put in
the request header, so it cannot leak through logs, errors or reprs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from core.config import GITHUB_GRAPHQL_URL
from core.github.cost import estimate_cost
from core.github.credentials import Credential, StaticToken
from core.github.errors import (
    AuthenticationError,
    BackfillRefused,
    EndpointMissing,
    GraphQLError,
    MalformedResponse,
    RateLimitedError,
    RepositoryNotFound,
    ReserveExceedsBudget,
    ResourceLimitsExceeded,
    SecondaryRateLimitError,
    TransientError,
)
from core.github.metrics import MAX_RESET_AHEAD, BudgetTracker, RateLimitMetrics
from core.github.models import PullRequestPage, RetryRequest, unknown_values
from core.github.outcomes import (
    SHRINK_TYPES,
    Action,
    AnswerDeadline,
    AnswerTooLarge,
    Outcome,
    decide,
)
from core.github.pacing import ServerTimePacer
from core.github.pager import RepoBuffer, github_count
from core.github.queries import (
    COUNT_QUERY,
    DRY_RUN_QUERY,
    MAX_PAGE,
    REQUESTS_PER_POINT,
    PageRequest,
    batch_query,
    fill_size,
    retry_alias,
)

log = logging.getLogger("core.github")

WalkKey = tuple[Hashable, ...]

MetricsCallback = Callable[[RateLimitMetrics], Awaitable[None] | None]
WaitCallback = Callable[[datetime, str], Awaitable[None] | None]

SECONDARY_MIN_WAIT = 60.0
TRANSIENT_BASE_WAIT = 1.0
TRANSIENT_MAX_WAIT = 30.0
REQUEST_DEADLINE = 60.0  # whole request, send to last byte (GitHub itself stops at 10 s)
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a full page with long bodies is a few MB
# A wait longer than this is said on one line (log level WARNING: every CLI command shows it)
# with what it waits for and until when; shorter ones are routine pacing.
WAIT_NOTICE_SECONDS = 5.0
CLOCK_SKEW_NOISE = 1.5  # seconds of apparent skew that `Date`'s whole seconds explain
# What reading an answer of the wrong shape raises (pydantic's ValidationError is a ValueError).
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


@dataclass(frozen=True)
class RepositoryFacts:
    node_id: str
    owner: str
    name: str
    total_prs: int


# The token the task's latest request carried (so a 401 can be reported against it).
_TOKEN_SENT: contextvars.ContextVar[SecretStr | None] = contextvars.ContextVar(
    "token_sent", default=None
)
# The response times of the requests one task sends (a page fetch collects them).
_RESPONSE_TIMES: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "response_times", default=None
)


def _walk_key(owner: str, name: str, holder: Hashable | None, *, sync: bool = False) -> WalkKey:
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


# Set in a page fetched ahead: it never waits for the points budget (a wait of up to an hour
# that the worker would rather spend on another backfill or installation); it stops instead.
_AHEAD: contextvars.ContextVar[bool] = contextvars.ContextVar("ahead", default=False)


@dataclass
class _Walk:
    """One repository's walk through its PRs: where they are buffered and how to ask."""

    key: WalkKey
    owner: str
    name: str
    order: tuple[str, str]  # (field, direction) of GitHub's `orderBy`
    buffer: RepoBuffer


class _PrimaryLimited(Exception):
    """Internal: GitHub said the primary budget is spent until `reset_at`."""

    def __init__(self, reset_at: datetime, message: str) -> None:
        super().__init__(message)
        self.reset_at = reset_at


def _duration(seconds: float) -> str:
    """`45 s`, `12 min`, `1 h 01 min`: how long a wait is, for its one line."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


class GitHubClient:
    """Async GraphQL client for one token (GitHub, GitHub Enterprise Server or the simulator)."""

    def __init__(
        self,
        token: SecretStr | str | None = None,
        url: str = GITHUB_GRAPHQL_URL,
        *,
        credential: Credential | None = None,
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
        request_deadline: float = REQUEST_DEADLINE,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        pacer: ServerTimePacer | None = None,
    ) -> None:
        if (token is None) == (credential is None):
            raise ValueError("GitHubClient takes a token or a credential (one of them)")
        # Asked for a token before every request: an installation's is refreshed on the way.
        self.credential: Credential = credential or StaticToken(token or "")
        self.url = url
        self.min_remaining = min_remaining
        self.max_retries = max_retries
        self.wait_on_rate_limit = wait_on_rate_limit
        self._on_rate_limit = on_rate_limit
        self._on_wait = on_wait
        self._sleep = sleep
        self._clock = clock
        self._offset = 0.0  # GitHub's clock minus ours, from each answer's `Date`
        self.request_deadline = request_deadline
        self.max_answer_bytes = max_answer_bytes
        self._rng = rng or random.Random()
        self._fingerprint = self.credential.fingerprint
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._in_flight = asyncio.Semaphore(max_in_flight)
        # Server time (response time) per window, shared by every worker using this client.
        self.pacer = pacer or ServerTimePacer(clock=clock, sleep=sleep)
        self._budget = BudgetTracker(now=self._now)
        self._reserved = 0  # estimated points of requests in flight, not yet reported
        self._dry_run_lock = asyncio.Lock()
        self._buffers: dict[WalkKey, RepoBuffer] = {}
        # The next page of a repository, fetched in the background: (its cursor, the task,
        # the PRs it asks for).
        self._refills: dict[WalkKey, tuple[str | None, asyncio.Task[list[float]], int]] = {}
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"GitHubClient(url={self.url!r}, token={self._fingerprint})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for key in list(self._refills):
            self._drop_refill(key)
        await self._http.aclose()

    @property
    def token_fingerprint(self) -> str:
        return self._fingerprint

    @property
    def metrics(self) -> RateLimitMetrics | None:
        return self._budget.snapshot()

    def _now(self) -> datetime:
        """GitHub's time: our clock corrected by the offset its `Date` headers show."""
        return datetime.fromtimestamp(self._clock() + self._offset, UTC)

    def github_now(self) -> datetime:
        return self._now()

    def seconds_until(self, when: datetime) -> float:
        """How long until `when` (a time GitHub gave), on GitHub's clock."""
        return max(0.0, (when - self._now()).total_seconds())

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
        reserve = self.min_remaining if min_remaining is None else min_remaining
        limit = self._budget.limit
        if limit is not None and 0 < limit <= reserve:
            # Clamping such a reserve lets only an untouched budget through: after the first
            # point every query would wait for a reset with the budget nearly full.
            raise ReserveExceedsBudget(reserve, limit)
        self._check(estimated_cost, reserve)

    def within_budget(self, estimated_cost: int) -> bool:
        """Whether what earlier answers reported leaves the reserve untouched by a query of
        `estimated_cost` (sends nothing; unknown budgets pass)."""
        try:
            self._check(estimated_cost, self.min_remaining)
        except RateLimitedError:
            return False
        return True

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
            payload = (await self._send(DRY_RUN_QUERY, None)).payload or {}
            data = payload.get("data")
            if isinstance(data, dict):
                self._budget.observe_rate_limit(data.get("rateLimit"), dry_run=True)
            await self._publish()

    async def _wait_until(self, until: datetime, reason: str, detail: str = "") -> None:
        """Sleep until `until` (GitHub's clock). Every wait goes through here: one longer than
        WAIT_NOTICE_SECONDS is said on one line (what for, until when, and that Ctrl-C
        stops it); the sleep is an ordinary cancellable one, so Ctrl-C ends it."""
        seconds = max(0.0, (until - self._now()).total_seconds())
        level = logging.WARNING if seconds > WAIT_NOTICE_SECONDS else logging.INFO
        log.log(
            level,
            "waiting until %s UTC (%s) for %s; Ctrl-C stops",
            f"{until:%H:%M:%S}",
            _duration(seconds),
            detail or reason,
        )
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
        return (await self._execute(query, variables))[0]

    async def _execute(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[int | str, str]]:
        """`execute`, and GitHub's words for each PR an error is located in (`Outcome.item_errors`:
        that PR alone is refused, the rest of the data is used)."""
        estimated = estimate_cost(query, variables)
        cost, nodes = estimated.cost, estimated.node_count  # nodes: the pacer's size
        limited = 0
        while True:
            await self._reserve(cost)
            try:
                outcome = await self._send(query, variables, size=nodes)
            except _PrimaryLimited as exc:
                limited += 1
                reset_at = exc.reset_at
                if not self.wait_on_rate_limit or limited > self.max_retries or _AHEAD.get():
                    raise RateLimitedError(
                        f"GitHub says the GraphQL budget is spent; resets at "
                        f"{reset_at:%Y-%m-%d %H:%M:%S} UTC",
                        reset_at=reset_at,
                        remaining=0,
                        estimated_cost=cost,
                        now=self._now(),
                    ) from None
                # GitHub said limited: never send again before its reset (its clock), and
                # not in the same instant even if the reset looks past.
                continue_after = max(reset_at, self._now()) + timedelta(seconds=1)
                await self._wait_until(
                    continue_after,
                    "GraphQL rate limit",
                    "the GraphQL budget to reset (GitHub answered that it is spent)",
                )
                continue
            finally:
                self._reserved -= cost
            data = (outcome.payload or {}).get("data")
            assert isinstance(data, dict)  # `decide` said ok: a dict of data
            self._budget.observe_rate_limit(data.get("rateLimit"))
            await self._publish()
            return data, outcome.item_errors

    async def _reserve(self, cost: int) -> None:
        """Wait (or raise) until the budget allows `cost`, then count it as in flight."""
        while True:
            try:
                await self.check_rate_limit_before_query(cost)
            except RateLimitedError as exc:
                if not self.wait_on_rate_limit or _AHEAD.get():
                    raise
                await self._wait_until(
                    exc.reset_at + timedelta(seconds=1),
                    "GraphQL budget",
                    f"the GraphQL budget to reset ({exc.remaining:,} points left, a query needs "
                    f"~{exc.estimated_cost}, MIN_GRAPHQL_POINTS={self.min_remaining} kept)",
                )
                continue
            self._reserved += cost
            return

    async def _post(
        self, body: dict[str, Any], size: int = 0
    ) -> tuple[int | None, httpx.Headers, bytes, Any]:
        """One POST with an overall deadline and a cap on the answer's size.

        httpx's timeout is per read: an answer trickling a byte every few seconds would never
        end. Returns (status, headers, body, exception) and never raises for the answer.
        `size` (the query's node count) lets the pacer estimate its response time.
        """
        headers = {"Accept": "application/json"}
        async with self._in_flight:
            ticket = await self.pacer.acquire(size)  # within the token's server-time budget
            try:
                return await self._post_paced(body, headers)
            finally:
                # measured from the reservation to the last byte; settled in the shared ledger
                seconds = await self.pacer.finish(ticket)
                times = _RESPONSE_TIMES.get()
                if times is not None:
                    times.append(seconds)

    async def _post_paced(
        self, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int | None, httpx.Headers, bytes, Any]:
        # The token is taken now, after any wait for a slot or the pacer: valid as it is sent.
        token = await self.credential.token()
        _TOKEN_SENT.set(token)
        headers = {**headers, "Authorization": f"bearer {token.get_secret_value()}"}
        status: int | None = None
        got = httpx.Headers()
        try:
            async with asyncio.timeout(self.request_deadline):
                self.requests_sent += 1
                async with self._http.stream(
                    "POST", self.url, json=body, headers=headers
                ) as response:
                    status, got = response.status_code, response.headers
                    # A 401's rate headers are the unauthenticated caller's, not this budget's.
                    self._observe_headers(got, budget=status != 401)
                    length = got.get("content-length", "")
                    if length.isdigit() and int(length) > self.max_answer_bytes:
                        raise AnswerTooLarge(f"{int(length):,} bytes announced")
                    parts: list[bytes] = []
                    size = 0
                    async for part in response.aiter_bytes():
                        size += len(part)
                        if size > self.max_answer_bytes:
                            raise AnswerTooLarge(f"over {self.max_answer_bytes:,} bytes")
                        parts.append(part)
                    return status, got, b"".join(parts), None
        except TimeoutError:
            return status, got, b"", AnswerDeadline(f"over {self.request_deadline:g} s")
        except (httpx.HTTPError, AnswerTooLarge) as exc:
            return status, got, b"", exc

    def _observe_headers(self, headers: httpx.Headers, *, budget: bool = True) -> None:
        """Budget headers, and GitHub's clock: `Date` gives the offset to ours."""
        date = headers.get("date")
        if date:
            try:
                offset = parsedate_to_datetime(date).timestamp() - self._clock()
            except (TypeError, ValueError, OverflowError):
                offset = None
            if offset is not None:
                # `Date` has whole seconds (floored): under ~1 s is noise, not skew.
                self._offset = offset if abs(offset) >= CLOCK_SKEW_NOISE else 0.0
        if budget:
            self._budget.observe_headers(headers)

    async def _send(
        self, query: str, variables: dict[str, Any] | None, *, size: int = 0
    ) -> Outcome:
        """POST and apply the answer's outcome (`core.github.outcomes.decide`): return it
        (ok: its payload), wait and resend (secondary limit, bounded), retry a blip in place
        (bounded), or raise the error that carries the outcome for the caller."""
        transient = secondary = 0
        renewed = False  # the credential was told of a 401 once for this request
        body = {"query": query, "variables": variables or {}}
        while True:
            status, headers, raw, exc = await self._post(body, size)
            outcome = decide(status, headers, raw, exc)
            if outcome.timeout:
                self.pacer.count("timeouts")
            if outcome.limit == "secondary":
                self.pacer.count("secondary")
            if outcome.action is Action.OK:
                assert outcome.payload is not None
                return outcome
            if outcome.action is Action.WAIT and outcome.limit == "primary":
                raise _PrimaryLimited(self._reset_from(headers), outcome.reason)
            if outcome.action is Action.WAIT:
                secondary += 1
                retry_after = outcome.retry_after
                if retry_after is not None:
                    retry_after = min(max(0.0, retry_after), MAX_RESET_AHEAD.total_seconds())
                if secondary > self.max_retries:
                    raise SecondaryRateLimitError(
                        f"GitHub's secondary rate limit persisted after {secondary} tries",
                        retry_after=retry_after,
                        attempts=secondary,
                    )
                await self._wait_until(
                    self._now() + timedelta(seconds=self._secondary_wait(retry_after, secondary)),
                    "GitHub secondary rate limit",
                    f"GitHub's secondary rate limit to pass (try {secondary} of "
                    f"{self.max_retries})",
                )
                continue
            if outcome.action is Action.STOP:
                sent = _TOKEN_SENT.get()
                if (
                    status == 401
                    and sent is not None
                    and not renewed
                    and await self.credential.rejected(sent)
                ):
                    renewed = True  # an expired installation token: a new one, same request
                    continue
                if status == 401:
                    reason = outcome.reason
                    if self.credential.installation_id is not None:
                        reason = (
                            "GitHub answered 401 (Bad credentials) even to a newly minted "
                            "installation token: is the installation suspended or removed?"
                        )
                    raise AuthenticationError(f"{self.credential.name}: {reason}")
                raise EndpointMissing(f"{outcome.reason} (url {self.url})")
            if outcome.action is Action.FAIL_BACKFILL:
                refused = BackfillRefused(outcome.reason)
                refused.type = outcome.error_type or refused.type
                raise refused
            if outcome.action is Action.FAIL_CHUNK:
                raise GraphQLError(
                    outcome.reason, type=outcome.error_type, path=outcome.extra.get("path")
                )
            # SHRINK: a blip is retried in place (bounded), GitHub's "too heavy" is not.
            if outcome.error_type in SHRINK_TYPES:
                raise ResourceLimitsExceeded(outcome.reason)
            transient += 1
            if not outcome.in_place or transient > self.max_retries:
                raise TransientError(
                    f"GitHub request failed {transient} times ({outcome.reason}); "
                    "try a smaller page",
                    attempts=transient,
                    status=status,
                    reason=outcome.reason,
                )
            delay = min(TRANSIENT_MAX_WAIT, TRANSIENT_BASE_WAIT * 2 ** (transient - 1))
            delay += self._rng.uniform(0, delay / 2)
            log.warning(
                "github %s: %s; retry %d/%d in %.1fs",
                self._fingerprint,
                outcome.reason,
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
        # GitHub's "at least a minute", on the pacing window's scale (a time-scaled run)
        base = SECONDARY_MIN_WAIT * self.pacer.scale * 2 ** (attempt - 1)
        return base + self._rng.uniform(0, base / 4)

    def _reset_from(self, headers: httpx.Headers) -> datetime:
        header = headers.get("x-ratelimit-reset")
        if header and header.strip().isdigit():
            reset = datetime.fromtimestamp(int(header), UTC)
        elif self._budget.reset_at is not None and self._budget.reset_at > self._now():
            reset = self._budget.reset_at
        else:
            reset = self._now() + timedelta(seconds=SECONDARY_MIN_WAIT)
        self._budget.observe(remaining=0, reset_at=reset, limit=self._budget.limit)
        return self._budget.reset_at or reset  # as far as the tracker believes it

    # -- repositories -----------------------------------------------------------------------

    async def _execute_for(
        self, owner: str, name: str, query: str, variables: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[int | str, str]]:
        """`_execute` for one repository: a refusal names the repository it is about."""
        try:
            return await self._execute(query, variables)
        except BackfillRefused as exc:
            if exc.type == "NOT_FOUND":
                raise RepositoryNotFound(owner, name) from None
            refused = BackfillRefused(f"{owner}/{name}: {exc} (organisation {owner!r})")
            refused.type = exc.type
            raise refused from None

    async def repository(self, owner: str, name: str) -> RepositoryFacts:
        """What GitHub says `owner/name` is: its node id (which survives renames and
        transfers), its current name (GitHub redirects old names) and its `totalCount` of PRs
        (every state: what a complete backfill must reach). Raises RepositoryNotFound."""
        data, _ = await self._execute_for(owner, name, COUNT_QUERY, {"owner": owner, "name": name})
        repo = data.get("repository")
        if repo is None:
            raise RepositoryNotFound(owner, name)
        try:
            now_owner, now_name = str(repo["nameWithOwner"]).split("/", 1)
            return RepositoryFacts(
                node_id=str(repo["id"]),
                owner=now_owner,
                name=now_name,
                total_prs=github_count(repo["pullRequests"]["totalCount"], "totalCount"),
            )
        except SHAPE_ERRORS as exc:
            raise MalformedResponse(f"GitHub's PR count for {owner}/{name}: {exc}") from None

    async def repository_pull_request_count(self, owner: str, name: str) -> int:
        """GitHub's `totalCount` of PRs of `owner/name` (see `repository`)."""
        return (await self.repository(owner, name)).total_prs

    async def fetch_pull_requests_page(
        self,
        owner: str,
        name: str,
        *,
        after: str | None,
        page_size: int,
        ahead: bool = True,
        holder: Hashable | None = None,
        retry: Sequence[RetryRequest] = (),
    ) -> PullRequestPage:
        """Up to `page_size` complete PRs after cursor `after`, oldest first.

        Nested reviews/comments/labels come 100 at a time (free under the cost rule); longer
        ones are completed by aliased `node(id:)` follow-ups that share 1-point queries with
        PRs fetched ahead for the next page. Nothing is truncated. With `ahead=False` no PR
        beyond this page is fetched (a holder about to let the backfill go). `holder` (a
        lease's claim token): whose walk this is; what one holder fetched ahead is never
        handed to another (see `_walk_key`); None: the repository's one walk. `retry`:
        refused PRs to ask for again alone, riding in this walk's next query; each comes
        back first in a page (stored, or refused again), the cursor unmoved by it.
        """
        return await self._timed(
            self._page(
                owner,
                name,
                after=after,
                page_size=page_size,
                ahead=ahead,
                holder=holder,
                retry=retry,
            )
        )

    async def fetch_changed_pull_requests(
        self,
        owner: str,
        name: str,
        *,
        after: str | None,
        page_size: int,
        since: datetime,
        holder: Hashable | None = None,
        retry: Sequence[RetryRequest] = (),
    ) -> PullRequestPage:
        """One page of a sync: up to `page_size` complete PRs after cursor `after`, most
        recently updated first, stopping at the first PR updated before `since`
        (`has_next_page` False: the walk is done). Completed with the same follow-ups as a
        backfill's pages; nothing is fetched ahead and no follow-up is paid for a PR that
        did not change. `retry`: as `fetch_pull_requests_page`."""
        return await self._timed(
            self._page(
                owner,
                name,
                after=after,
                page_size=page_size,
                ahead=False,
                since=since,
                holder=holder,
                retry=retry,
            )
        )

    async def _timed(self, fetch: Awaitable[PullRequestPage]) -> PullRequestPage:
        """The page with its slowest response (page sizing), its PRs counted (pacing)."""
        times: list[float] = []
        token = _RESPONSE_TIMES.set(times)
        try:
            page = await fetch
        finally:
            _RESPONSE_TIMES.reset(token)
        self.pacer.count("prs", len(page.pull_requests))
        return page.model_copy(update={"slowest_seconds": max(times, default=0.0)})

    async def _page(
        self,
        owner: str,
        name: str,
        *,
        after: str | None,
        page_size: int,
        ahead: bool,
        since: datetime | None = None,
        holder: Hashable | None = None,
        retry: Sequence[RetryRequest] = (),
    ) -> PullRequestPage:
        page_size = max(1, min(MAX_PAGE, page_size))
        key = _walk_key(owner, name, holder, sync=since is not None)
        await self._refilled(key, after)
        buffer = self._buffers.get(key)
        order = ("UPDATED_AT", "DESC") if since is not None else ("CREATED_AT", "ASC")
        if buffer is None or buffer.start_after != after or buffer.stop_below != since:
            buffer = RepoBuffer(after, stop_below=since, order=" ".join(order))
            self._buffers[key] = buffer
        buffer.queue_retries(retry)
        walk = _Walk(key, owner, name, order, buffer)
        await self._fill(walk, page_size, ahead=ahead)
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
            self._buffers.pop(key, None)
        elif ahead and since is None:
            # Fetch the next page while the caller stores this one: GitHub's time and the
            # store's overlap instead of adding up (one backfill alone, or a store far away
            # such as PostgREST, otherwise leaves the budget idle for every commit). One
            # request at a time per repository still; the next call awaits it, and its
            # error, if any, is that call's.
            task = asyncio.create_task(self._refill(walk, page_size))
            self._refills[key] = (end_cursor, task, page_size)
        return result

    async def _fill(self, walk: _Walk, page_size: int, *, ahead: bool) -> None:
        """Query until the buffer holds `page_size` complete PRs (or all there is), and every
        refused PR queued for a retry was asked for (riding in the same queries)."""
        buffer, key, owner, name = walk.buffer, walk.key, walk.owner, walk.name
        capacity = max(page_size * 3, 2 * MAX_PAGE)
        while buffer.retries or not (buffer.complete_prefix() >= page_size or buffer.exhausted):
            follow_ups = buffer.follow_ups(min(REQUESTS_PER_POINT, 2 * page_size))
            retries = buffer.next_retries()
            fresh = 0
            if buffer.has_more and len(buffer.entries) < (capacity if ahead else page_size):
                fresh = fill_size(len(follow_ups), page_size, retries=len(retries))
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
                data, item_errors = await self._execute_for(owner, name, query, variables)
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
        times: list[float] = []
        _RESPONSE_TIMES.set(times)  # this task's own context
        _AHEAD.set(True)
        with contextlib.suppress(RateLimitedError):
            await self._fill(walk, page_size, ahead=True)
        return times

    async def _refilled(self, key: WalkKey, after: str | None) -> None:
        """Wait for the background fetch of the page after `after`, if one runs: its error
        is raised here, and its response times count for this page (page sizing). One for
        another cursor (the caller went elsewhere) is dropped."""
        cursor, task, _ = self._refills.get(key, (None, None, 0))
        if task is None:
            return
        if cursor != after:
            self._drop_refill(key)
            return
        del self._refills[key]
        times = await task
        current = _RESPONSE_TIMES.get()
        if current is not None:
            current.extend(times)

    def _drop_refill(self, key: WalkKey) -> None:
        """Stop the background fetch for `key` (its answer is not wanted any more)."""
        _, task, _ = self._refills.pop(key, (None, None, 0))
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
        counts as the PRs it asks for. Another worker taking the backfill over would fetch
        (and pay for) them again, so a holder hands them out before it lets go (a page on
        its way, cancelled, is paid for all the same: its cursor was asked for twice)."""
        key = _walk_key(owner, name, holder)
        buffer = self._buffers.get(key)
        fetched = len(buffer.entries) if buffer is not None else 0
        _, task, asked = self._refills.get(key, (None, None, 0))
        if task is not None and not task.done():
            fetched = max(fetched, asked)
        return fetched

    async def ahead_arrived(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Wait until the page fetched ahead for the repository (if one is on its way) is
        answered, without taking it or its error: what is paid for can then be counted
        (`fetched_complete`) before a backfill is let go. Bounded: a fetch ahead never waits
        for the points budget."""
        _, task, _ = self._refills.get(_walk_key(owner, name, holder), (None, None, 0))
        if task is not None:
            await asyncio.wait([task])

    def fetched_complete(self, owner: str, name: str, holder: Hashable | None = None) -> int:
        """Of `fetched_ahead`, the PRs at the front that need no follow-up: a page of at most
        this many is handed out without a request (what a spent budget can still store)."""
        buffer = self._buffers.get(_walk_key(owner, name, holder))
        return buffer.complete_prefix() if buffer is not None else 0

    def forget(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Drop what `holder` fetched ahead for a repository it no longer works on (another
        holder's walk of it, on this client, is left alone)."""
        for key in (_walk_key(owner, name, holder), _walk_key(owner, name, holder, sync=True)):
            self._drop_refill(key)
            self._buffers.pop(key, None)

    def _malformed(self, key: WalkKey, owner: str, name: str, exc: Exception) -> NoReturn:
        """A page that cannot be read: forget everything buffered for it (it may be half
        folded in) and say so with a typed error; the caller fetches it again later."""
        self._buffers.pop(key, None)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise MalformedResponse(
            f"GitHub's answer for {owner}/{name} is not the shape asked for ({detail})"
        ) from None
