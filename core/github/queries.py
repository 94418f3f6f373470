"""The GraphQL documents the client sends, and the page size GitHub's cost rule makes cheapest.

Every document asks for `rateLimit {...}` itself, so each response reports its own cost and the
budget after it: no separate rateLimit query is ever needed.

Cost shape of a batch (see `core.github.cost`): the top-level `pullRequests` costs 1 request, and
each of its PRs costs one request per nested connection (`reviews`, `comments`, `labels`,
`commits { totalCount }`). A follow-up `node(id:)` alias costs 1 request per connection it pages.
Requests / 100 rounded half up, minimum 1, is the price: up to 149 requests cost 1 point.

Review threads: a connection nested in a connection costs one request per parent its
parent's `first` could list (`reviewThreads(first: T) { comments }` = 1 + T per PR, whatever the
PR holds), but a connection alone costs 1 whatever its own `first`. So the page lists each PR's
threads (`reviewThreads(first: 100)`, their own fields only: 1 request per PR, a PR with none
included) and each thread's comments come in a follow-up by the thread's node id (1 request
per thread, 100 comments at a time): exactly the requests GitHub's minimum for this data has,
one per thread and none for a PR without threads. A PR with more than 100 threads gets a
follow-up for the rest (1 request); a thread with more than 100 comments gets more by its id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.github.cost import MAX_PAGE, points_for
from core.github.models import RetryRequest

RATE_LIMIT_FIELDS = "rateLimit { cost limit remaining used resetAt nodeCount }"
_RATE_LIMIT_BODY = RATE_LIMIT_FIELDS.removeprefix("rateLimit ")
DRY_RUN_QUERY = f"query RateLimitDryRun {{ rateLimit(dryRun: true) {_RATE_LIMIT_BODY} }}"

# GitHub's `Actor` interface has no `id`, but every type implementing it is a `Node`: its node
# id is the contributor's key whatever the type (mannequins and enterprise accounts share
# logins with users and with each other). `databaseId` where the type has one.
ACTOR = (
    "{ __typename login avatarUrl ... on Node { id } ... on User { databaseId } "
    "... on Bot { databaseId } ... on Mannequin { databaseId } "
    "... on Organization { databaseId } }"
)
# `fullDatabaseId` (BigInt, sent as a string): `databaseId` is deprecated for PRs, reviews and
# comments and cannot hold GitHub's ids past 2^31. Accounts keep `databaseId` (not deprecated).
REVIEW_NODE = f"id fullDatabaseId author {ACTOR} state body submittedAt createdAt url"
COMMENT_NODE = f"id fullDatabaseId author {ACTOR} body createdAt updatedAt url"
LABEL_NODE = "name"
# An inline review comment (GitHub's `PullRequestReviewComment`): its review and the comment it
# replies to by node id. `diffHunk` is left out: the diff text of every comment would weigh
# more than the rest of the page, and the store keeps the place (path, lines) instead.
REVIEW_COMMENT_NODE = (
    f"id fullDatabaseId author {ACTOR} body path line originalLine "
    "pullRequestReview { id } replyTo { id } createdAt updatedAt url"
)


# A thread's comments are asked by the thread's id, up to ~150 threads a query: their fields
# go once in a fragment, not once per alias (the document stays small to send, parse and
# validate; GitHub prices fields, not text, so the cost is the same).
REVIEW_COMMENT_FRAGMENT = (
    f"fragment ReviewComment on PullRequestReviewComment {{ {REVIEW_COMMENT_NODE} }}"
)


# A thread's first page of comments: the same for every thread, so a whole alias is
# `f3: node(id: $id3) { ...ThreadComments }`.
THREAD_COMMENTS_FRAGMENT = (
    "fragment ThreadComments on PullRequestReviewThread { "
    f"comments(first: {MAX_PAGE}) {{ totalCount pageInfo {{ endCursor hasNextPage }} "
    "nodes { ...ReviewComment } } }"
)


def _review_comments(after: str = "") -> str:
    """A thread's `comments` connection, 100 at a time (`after`: ", after: $var" or "");
    its nodes spread REVIEW_COMMENT_FRAGMENT, which the document must then define."""
    return (
        f"comments(first: {MAX_PAGE}{after}) {{ totalCount pageInfo {{ endCursor hasNextPage }} "
        "nodes { ...ReviewComment } }"
    )


# `resolvedBy` is a User (not an Actor): the Actor fields without the other types' fragments.
# No `comments` here: under a page of PRs they would cost a request per thread the page could
# list (100 per PR); each thread's comments are a follow-up of 1 request instead.
THREAD_NODE = (
    "id path line originalLine startLine originalStartLine diffSide isResolved isOutdated "
    "isCollapsed resolvedBy { __typename login avatarUrl id databaseId }"
)
# The prefix of a thread's comments among a PR's nested lists (`FollowUp.field`).
THREAD_COMMENTS = "thread:"

# Connections nested in each PR that need paging, with the fields of their nodes.
NESTED: dict[str, str] = {
    "reviews": REVIEW_NODE,
    "comments": COMMENT_NODE,
    "labels": LABEL_NODE,
    "reviewThreads": THREAD_NODE,
}
# Requests per PR in the page query: one per connection above and `commits { totalCount }`
# (none of them has a connection inside, so each costs 1 per PR whatever its `first`).
NESTED_PER_PR = len(NESTED) + 1
# Requests one point buys at best: 149 / 100 rounds to 1.
REQUESTS_PER_POINT = 149

PR_SCALARS = (
    "id fullDatabaseId number title body state isDraft merged createdAt updatedAt closedAt "
    "mergedAt additions deletions changedFiles baseRefName headRefName url"
)


def _connection(field: str, after_var: str | None = None, first: int = MAX_PAGE) -> str:
    after = f", after: ${after_var}" if after_var else ""
    return (
        f"{field}(first: {first}{after}) {{ totalCount pageInfo {{ endCursor hasNextPage }} "
        f"nodes {{ {NESTED[field]} }} }}"
    )


# The threads part of PR_FIELDS (a measurement of the page without it leaves it out).
PR_THREADS = _connection("reviewThreads")
PR_FIELDS = " ".join(
    [
        PR_SCALARS,
        f"author {ACTOR}",
        "commits { totalCount }",
        *(_connection(field) for field in NESTED),
    ]
)

COUNT_QUERY = (
    "query PullRequestCount($owner: String!, $name: String!) { "
    "repository(owner: $owner, name: $name) { id nameWithOwner pullRequests { totalCount } } "
    f"{RATE_LIMIT_FIELDS} }}"
)


@dataclass(frozen=True)
class FollowUp:
    """One more page of one nested connection of one PR, resumed after `after`.

    `field` THREAD_COMMENTS + thread id: that thread's comments, asked by `node_id` (the
    thread's); `after` None for its first page. `first`: how many to ask for (100: no
    connection asked for in a follow-up has one nested in it, so size never costs more)."""

    pr_id: str
    field: str
    after: str | None
    first: int = MAX_PAGE
    node_id: str | None = None

    @property
    def requests(self) -> int:
        """What it costs (GitHub's requests): one connection under a `node(id:)`, nothing
        nested in it."""
        return 1


@dataclass(frozen=True)
class PageRequest:
    owner: str
    name: str
    first: int
    after: str | None
    # Backfills walk oldest first; syncs walk the most recently updated first.
    order: str = "CREATED_AT"
    direction: str = "ASC"


# The walk orders a PR refused without an id may be asked for again in (by its position).
WALK_ORDERS = ("CREATED_AT ASC", "UPDATED_AT DESC")
# Refused PRs asked for again in one query, at most (each costs NESTED_PER_PR requests).
MAX_RETRIES_PER_QUERY = 10


def retry_alias(i: int, retry: RetryRequest) -> str:
    """`r{i}` (by node id), `n{i}` (by number) or `p{i}` (by position): where its answer is."""
    if retry.node_id:
        return f"r{i}"
    return f"n{i}" if retry.number is not None else f"p{i}"


def place_key(position_cursor: str | None, order: str, k: int) -> str:
    """The key of the k-th PR after `position_cursor` in a walk by `order` (`WALK_ORDERS`):
    `cursor:<position_cursor>+k`, what a null edge there is refused by (pull_request_failures'
    github_id) and what a PR stored there clears. At a walk's start (no cursor before it) the
    key names the order instead, `cursor:start of <order>+k`: every walk in an order starts
    there, and the first PRs of a backfill (CREATED_AT ASC) and of a sync (UPDATED_AT DESC)
    are different PRs, never one failure. A real cursor (base64) has no space, so neither
    form is ever another's."""
    if position_cursor:
        return f"cursor:{position_cursor}+{k}"
    return f"cursor:start of {order if order in WALK_ORDERS else WALK_ORDERS[0]}+{k}"


def position_rank(retry: RetryRequest) -> int:
    """Which PR after `position_cursor` (in `position_order`) a retry by position asks for:
    k for the k-th null edge after that cursor (keyed by `place_key`), else 1. A key of an
    older version for a walk's start (`cursor:+k`) is read the same way."""
    order = retry.position_order or ""
    for prefix in (
        place_key(retry.position_cursor, order, 0)[:-1],
        *(() if retry.position_cursor else ("cursor:+",)),
    ):
        if retry.github_id.startswith(prefix):
            tail = retry.github_id[len(prefix) :]
            if tail.isascii() and tail.isdigit() and 0 < int(tail) <= 100:
                return int(tail)
    return 1


def _retry_field(i: int, retry: RetryRequest, params: list[str], variables: dict[str, Any]) -> str:
    alias = retry_alias(i, retry)
    if alias[0] == "r":
        params.append(f"${alias}: ID!")
        variables[alias] = retry.node_id
        return f"{alias}: node(id: ${alias}) {{ ... on PullRequest {{ {PR_FIELDS} }} }}"
    if alias[0] == "n":
        params.append(f"${alias}: Int!")
        variables[alias] = retry.number
        return (
            f"{alias}: repository(owner: $owner, name: $name) {{ "
            f"pullRequest(number: ${alias}) {{ {PR_FIELDS} }} }}"
        )
    params.append(f"${alias}: String")
    variables[alias] = retry.position_cursor
    order = retry.position_order if retry.position_order in WALK_ORDERS else WALK_ORDERS[0]
    field, direction = order.split()
    return (
        f"{alias}: repository(owner: $owner, name: $name) "
        f"{{ pullRequests(first: {position_rank(retry)}, "
        f"after: ${alias}, orderBy: {{field: {field}, direction: {direction}}}) {{ "
        f"edges {{ cursor node {{ {PR_FIELDS} }} }} }} }}"
    )


def batch_query(
    page: PageRequest | None,
    follow_ups: Sequence[FollowUp],
    retries: Sequence[RetryRequest] = (),
    repository: tuple[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """One document fetching a page of PRs, follow-up pages (aliased `f0`, `f1`, ...) and
    refused PRs asked for again alone (`r0`, `n1`, `p2`, ...: see `retry_alias`; those by
    number or position need `repository`, the (owner, name) they are in)."""
    params: list[str] = []
    body: list[str] = []
    variables: dict[str, Any] = {}
    if page is not None:
        repository = (page.owner, page.name)
    if repository is not None and (page is not None or any(not r.node_id for r in retries)):
        params += ["$owner: String!", "$name: String!"]
        variables.update(owner=repository[0], name=repository[1])
    if page is not None:
        params += ["$first: Int!", "$after: String"]
        variables.update(first=page.first, after=page.after)
        body.append(
            "repository(owner: $owner, name: $name) { "
            "pullRequests(first: $first, after: $after, "
            f"orderBy: {{field: {page.order}, direction: {page.direction}}}) {{ "
            "totalCount pageInfo { endCursor hasNextPage } "
            f"edges {{ cursor node {{ {PR_FIELDS} }} }} }} }}"
        )
    fragments: list[str] = []
    for i, follow in enumerate(follow_ups):
        params.append(f"$id{i}: ID!")
        variables[f"id{i}"] = follow.node_id or follow.pr_id
        if follow.field.startswith(THREAD_COMMENTS):
            if REVIEW_COMMENT_FRAGMENT not in fragments:
                fragments.append(REVIEW_COMMENT_FRAGMENT)
            if follow.after is None:  # its first page: the shared fragment
                if THREAD_COMMENTS_FRAGMENT not in fragments:
                    fragments.append(THREAD_COMMENTS_FRAGMENT)
                body.append(f"f{i}: node(id: $id{i}) {{ ...ThreadComments }}")
                continue
            params.append(f"$after{i}: String")
            variables[f"after{i}"] = follow.after
            comments = _review_comments(f", after: $after{i}")
            body.append(
                f"f{i}: node(id: $id{i}) {{ ... on PullRequestReviewThread {{ {comments} }} }}"
            )
            continue
        params.append(f"$after{i}: String")
        variables[f"after{i}"] = follow.after
        first = min(MAX_PAGE, max(1, follow.first))
        body.append(
            f"f{i}: node(id: $id{i}) {{ ... on PullRequest {{ "
            f"{_connection(follow.field, f'after{i}', first)} }} }}"
        )
    for i, retry in enumerate(retries):
        if not retry.node_id and repository is None:
            raise ValueError("a retry by number or position needs its repository")
        body.append(_retry_field(i, retry, params, variables))
    if not body:
        raise ValueError("a batch needs a page, a follow-up or a retry")
    header = f"query Batch({', '.join(params)})" if params else "query Batch"
    document = " ".join([f"{header} {{ {' '.join(body)} {RATE_LIMIT_FIELDS} }}", *fragments])
    return document, variables


def batch_requests(page_size: int, follow_ups: int, retries: int = 0) -> int:
    """Requests (GitHub's cost unit) of `batch_query` with that many PRs, follow-up requests
    (`FollowUp.requests` summed) and retries (a retry by position costs one request more:
    counted as the worst case)."""
    page = 1 + NESTED_PER_PR * page_size if page_size > 0 else 0
    return page + follow_ups + (NESTED_PER_PR + 1) * retries


def best_page_size(nested_connections: int = NESTED_PER_PR, max_page: int = MAX_PAGE) -> int:
    """The page (≤ max_page) with the fewest points per PR; ties go to the larger page.

    Two nested connections: 74 PRs cost 1 point (149 requests) while 100 cost 2, so 74 wins.
    """
    best, best_ratio = 1, float("inf")
    for n in range(1, max(1, min(max_page, MAX_PAGE)) + 1):
        ratio = points_for(1 + nested_connections * n) / n
        if ratio <= best_ratio:
            best, best_ratio = n, ratio
    return best


def fill_size(follow_ups: int, max_page: int, points: int = 1, retries: int = 0) -> int:
    """How many new PRs fit beside `follow_ups` follow-ups and `retries` retries without the
    batch costing more."""
    best = 0
    for n in range(1, max(0, min(max_page, MAX_PAGE)) + 1):
        if points_for(batch_requests(n, follow_ups, retries)) <= points:
            best = n
    return best


# The freshness probe: per aliased repository only the newest PR's updatedAt and the PR
# totalCount. Each `pullRequests(first: 1)` is a top-level connection (1 request), so 100
# repositories cost 100 requests: 1 point (core.github.cost).
PROBE_BATCH = 100


def probe_alias(i: int) -> str:
    """The alias of the i-th repository of a probe (its errors are located by it)."""
    return f"r{i}"


def probe_query(count: int) -> str:
    """One document asking `count` repositories (variables `o{i}`, `n{i}`) for their newest
    PR's `updatedAt` and their PR `totalCount`."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(count))
    fields = " ".join(
        f"{probe_alias(i)}: repository(owner: $o{i}, name: $n{i}) {{ pullRequests(first: 1, "
        "orderBy: {field: UPDATED_AT, direction: DESC}) "
        "{ totalCount nodes { updatedAt } } }"
        for i in range(count)
    )
    return f"query FreshnessProbe({params}) {{ {fields} {RATE_LIMIT_FIELDS} }}"


def facts_query(count: int) -> str:
    """One document asking `count` repositories (variables `o{i}`, `n{i}`) what COUNT_QUERY
    asks one: node id, current name, PR `totalCount` (1 request each: 100 a point)."""
    params = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(count))
    fields = " ".join(
        f"{probe_alias(i)}: repository(owner: $o{i}, name: $n{i}) "
        "{ id nameWithOwner pullRequests { totalCount } }"
        for i in range(count)
    )
    return f"query RepositoryFacts({params}) {{ {fields} {RATE_LIMIT_FIELDS} }}"
