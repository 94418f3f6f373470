"""GitHub GraphQL client that knows its point budget.

One client per token, shared by every worker of a process. Its parts, each with one job:
`GraphQLHttp` (`core.github.http`) sends one request with bounded retries and maps every
failure to one error type from `core.github.errors`; `BudgetGate` (`core.github.budget_gate`)
checks, charges and waits for the points budget; `LookAhead` (`core.github.look_ahead`) walks
a repository's PRs page by page, fetching ahead. The token lives in a `SecretStr` and is only
ever put in the request header, so it cannot leak through logs, errors or reprs.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from core.config import GITHUB_GRAPHQL_URL
from core.github.budget_gate import BudgetGate, MetricsCallback, WaitCallback
from core.github.clock import GitHubClock
from core.github.cost import estimate_cost
from core.github.credentials import Credential, StaticToken
from core.github.errors import BackfillRefused, MalformedResponse, RepositoryNotFound
from core.github.http import MAX_ANSWER_BYTES, REQUEST_DEADLINE, Caller, GraphQLHttp
from core.github.look_ahead import SHAPE_ERRORS, LookAhead
from core.github.metrics import RateLimitMetrics
from core.github.models import PullRequestPage, RetryRequest
from core.github.outcomes import Outcome
from core.github.pacing import ServerTimePacer
from core.github.pager import github_count
from core.github.queries import (
    COUNT_QUERY,
    DRY_RUN_QUERY,
    PROBE_BATCH,
    facts_query,
    probe_alias,
    probe_query,
)

__all__ = ["GitHubClient", "MetricsCallback", "Probed", "RepositoryFacts", "WaitCallback"]


@dataclass(frozen=True)
class Probed:
    """One repository's answer in a freshness probe: its newest PR's `updatedAt` (None: no
    PR) and its PR `totalCount`; or, GitHub would not serve it, `error` in GitHub's words."""

    newest_updated_at: datetime | None = None
    total_count: int = 0
    error: str | None = None


@dataclass(frozen=True)
class RepositoryFacts:
    node_id: str
    owner: str
    name: str
    total_prs: int


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
        self._fingerprint = self.credential.fingerprint
        self._clock = GitHubClock(clock)
        # Server time (response time) per window, shared by every worker using this client.
        self.pacer = pacer or ServerTimePacer(clock=clock, sleep=sleep)
        self._gate = BudgetGate(
            clock=self._clock,
            pacer=self.pacer,
            fingerprint=self._fingerprint,
            min_remaining=min_remaining,
            wait_on_rate_limit=wait_on_rate_limit,
            max_retries=max_retries,
            sleep=sleep,
            on_rate_limit=on_rate_limit,
            on_wait=on_wait,
            rng=rng or random.Random(),
        )
        self._http = GraphQLHttp(
            url,
            self.credential,
            self._gate,
            transport=transport,
            timeout=timeout,
            max_in_flight=max_in_flight,
            request_deadline=request_deadline,
            max_answer_bytes=max_answer_bytes,
        )
        self._look_ahead = LookAhead(self._execute_for)

    def __repr__(self) -> str:
        return f"GitHubClient(url={self.url!r}, token={self._fingerprint})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._look_ahead.close()
        await self._http.aclose()

    @property
    def token_fingerprint(self) -> str:
        return self._fingerprint

    @property
    def metrics(self) -> RateLimitMetrics | None:
        return self._gate.tracker.snapshot()

    @property
    def min_remaining(self) -> int:
        """Points kept in reserve: a query that would dig into them waits for the reset."""
        return self._gate.min_remaining

    @min_remaining.setter
    def min_remaining(self, points: int) -> None:
        self._gate.min_remaining = points

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (each retry counts)."""
        return self._http.requests_sent

    def github_now(self) -> datetime:
        """GitHub's time: our clock corrected by the offset its `Date` headers show."""
        return self._clock.now()

    def seconds_until(self, when: datetime) -> float:
        """How long until `when` (a time GitHub gave), on GitHub's clock."""
        return self._clock.seconds_until(when)

    # -- budget -----------------------------------------------------------------------------

    async def check_rate_limit_before_query(
        self, estimated_cost: int, min_remaining: int | None = None
    ) -> None:
        """Raise `RateLimitedError` (sending nothing) if the query would dig into the reserve.

        Uses what earlier responses reported; only when nothing is known yet does it send one
        `rateLimit(dryRun: true)`. After `reset_at` the budget is full again, so it passes.
        """
        await self._gate.check(estimated_cost, min_remaining, self._probe(Caller()))

    def within_budget(self, estimated_cost: int) -> bool:
        """Whether what earlier answers reported leaves the reserve untouched by a query of
        `estimated_cost` (sends nothing; unknown budgets pass)."""
        return self._gate.within_budget(estimated_cost)

    def _probe(self, caller: Caller) -> Callable[[], Awaitable[Outcome]]:
        """The `rateLimit(dryRun: true)` query that learns an unknown budget (costs nothing)."""
        return lambda: self._http.send(DRY_RUN_QUERY, None, caller)

    # -- queries ----------------------------------------------------------------------------

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query: pre-flight, bounded retries, error mapping. Returns its `data`."""
        return (await self._execute(query, variables, Caller()))[0]

    async def _execute(
        self, query: str, variables: dict[str, Any] | None, caller: Caller
    ) -> tuple[dict[str, Any], dict[int | str, str]]:
        """`execute`, and GitHub's words for each PR an error is located in (`Outcome.item_errors`:
        that PR alone is refused, the rest of the data is used)."""
        estimated = estimate_cost(query, variables)
        nodes = estimated.node_count  # the pacer's size

        async def send() -> Outcome:
            return await self._http.send(query, variables, caller, size=nodes)

        outcome = await self._gate.charge(
            estimated.cost, send, self._probe(caller), ahead=caller.ahead
        )
        data = (outcome.payload or {}).get("data")
        assert isinstance(data, dict)  # `decide` said ok: a dict of data
        return data, outcome.item_errors

    # -- repositories -----------------------------------------------------------------------

    async def _execute_for(
        self, owner: str, name: str, query: str, variables: dict[str, Any], caller: Caller
    ) -> tuple[dict[str, Any], dict[int | str, str]]:
        """`_execute` for one repository: a refusal names the repository it is about."""
        try:
            return await self._execute(query, variables, caller)
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
        data, _ = await self._execute_for(
            owner, name, COUNT_QUERY, {"owner": owner, "name": name}, Caller()
        )
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

    async def probe_repositories(self, repositories: Sequence[tuple[str, str]]) -> list[Probed]:
        """Each (owner, name)'s newest PR `updatedAt` and PR `totalCount`, in order, from ONE
        aliased document (at most PROBE_BATCH = 100 repositories: about 1 point by GitHub's
        cost rule, "Rate limits and node limits for the GraphQL API": each repository's
        `pullRequests(first: 1)` is one request, 100 requests a point). A repository GitHub
        will not serve (not found, forbidden) gets its `error` and does not sink the others;
        a failure of the whole answer raises as `execute` does."""
        if not 1 <= len(repositories) <= PROBE_BATCH:
            raise ValueError(f"a probe asks for 1 to {PROBE_BATCH} repositories")
        variables: dict[str, Any] = {}
        for i, (owner, name) in enumerate(repositories):
            variables[f"o{i}"], variables[f"n{i}"] = owner, name
        data, errors = await self._execute(probe_query(len(repositories)), variables, Caller())
        answers = []
        for i, (owner, name) in enumerate(repositories):
            alias = probe_alias(i)
            repo = data.get(alias)
            if not isinstance(repo, dict):
                said = errors.get(alias, "NOT_FOUND: no repository in GitHub's answer")
                answers.append(Probed(error=f"{owner}/{name}: {said}"))
                continue
            try:
                prs = repo["pullRequests"]
                nodes = prs["nodes"] or []
                newest = (
                    datetime.fromisoformat(str(nodes[0]["updatedAt"]).replace("Z", "+00:00"))
                    if nodes
                    else None
                )
                total = github_count(prs["totalCount"], "totalCount")
            except SHAPE_ERRORS as exc:
                answers.append(Probed(error=f"{owner}/{name}: malformed probe answer: {exc}"))
                continue
            answers.append(Probed(newest_updated_at=newest, total_count=total))
        return answers

    async def repositories(
        self, repositories: Sequence[tuple[str, str]]
    ) -> list[RepositoryFacts | str]:
        """`repository` for up to PROBE_BATCH = 100 repositories in ONE aliased document
        (about 1 point by GitHub's cost rule: one `pullRequests { totalCount }` request
        each), in order. One GitHub will not serve (not found, forbidden) gets GitHub's
        words instead, and the others are answered; a failure of the whole answer raises
        as `execute` does."""
        if not 1 <= len(repositories) <= PROBE_BATCH:
            raise ValueError(f"one document asks for 1 to {PROBE_BATCH} repositories")
        variables: dict[str, Any] = {}
        for i, (owner, name) in enumerate(repositories):
            variables[f"o{i}"], variables[f"n{i}"] = owner, name
        data, errors = await self._execute(facts_query(len(repositories)), variables, Caller())
        out: list[RepositoryFacts | str] = []
        for i, (owner, name) in enumerate(repositories):
            alias = probe_alias(i)
            repo = data.get(alias)
            if not isinstance(repo, dict):
                said = errors.get(alias)
                out.append(
                    "not found on GitHub (or not visible to the credentials in use)"
                    if said is None or said.startswith("NOT_FOUND")
                    else said.replace(f" at {alias}", "")
                )
                continue
            try:
                now_owner, now_name = str(repo["nameWithOwner"]).split("/", 1)
                out.append(
                    RepositoryFacts(
                        node_id=str(repo["id"]),
                        owner=now_owner,
                        name=now_name,
                        total_prs=github_count(repo["pullRequests"]["totalCount"], "totalCount"),
                    )
                )
            except SHAPE_ERRORS as exc:
                out.append(f"GitHub's answer for {owner}/{name} is malformed: {exc}")
        return out

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
        handed to another (see `core.github.look_ahead.walk_key`); None: the repository's
        one walk. `retry`: refused PRs to ask for again alone, riding in this walk's next
        query; each comes back first in a page (stored, or refused again), the cursor
        unmoved by it.
        """
        caller = Caller()
        page = await self._look_ahead.page(
            owner,
            name,
            after=after,
            page_size=page_size,
            ahead=ahead,
            caller=caller,
            holder=holder,
            retry=retry,
        )
        return self._timed(page, caller)

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
        caller = Caller()
        page = await self._look_ahead.page(
            owner,
            name,
            after=after,
            page_size=page_size,
            ahead=False,
            caller=caller,
            since=since,
            holder=holder,
            retry=retry,
        )
        return self._timed(page, caller)

    def _timed(self, page: PullRequestPage, caller: Caller) -> PullRequestPage:
        """The page with its slowest response (page sizing), its PRs counted (pacing)."""
        self.pacer.count("prs", len(page.pull_requests))
        return page.model_copy(update={"slowest_seconds": max(caller.times, default=0.0)})

    def fetched_ahead(self, owner: str, name: str, holder: Hashable | None = None) -> int:
        """PRs already fetched for the repository's next pages (complete or awaiting
        follow-ups), or on their way: a page fetched in the background and not yet answered
        counts as the PRs it asks for. Another worker taking the backfill over would fetch
        (and pay for) them again, so a holder hands them out before it lets go (a page on
        its way, cancelled, is paid for all the same: its cursor was asked for twice)."""
        return self._look_ahead.fetched_ahead(owner, name, holder)

    async def ahead_arrived(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Wait until the page fetched ahead for the repository (if one is on its way) is
        answered, without taking it or its error: what is paid for can then be counted
        (`fetched_complete`) before a backfill is let go. Bounded: a fetch ahead never waits
        for the points budget."""
        await self._look_ahead.ahead_arrived(owner, name, holder)

    def fetched_complete(self, owner: str, name: str, holder: Hashable | None = None) -> int:
        """Of `fetched_ahead`, the PRs at the front that need no follow-up: a page of at most
        this many is handed out without a request (what a spent budget can still store)."""
        return self._look_ahead.fetched_complete(owner, name, holder)

    def forget(self, owner: str, name: str, holder: Hashable | None = None) -> None:
        """Drop what `holder` fetched ahead for a repository it no longer works on (another
        holder's walk of it, on this client, is left alone)."""
        self._look_ahead.forget(owner, name, holder)
