"""The GraphQL documents the client sends, and the page size GitHub's cost rule makes cheapest.

Every document asks for `rateLimit {...}` itself, so each response reports its own cost and the
budget after it: no separate rateLimit query is ever needed.

Cost shape of a batch (see `core.github.cost`): the top-level `pullRequests` costs 1 request, and
each of its PRs costs one request per nested connection (`reviews`, `comments`, `labels`,
`commits { totalCount }`). A follow-up `node(id:)` alias costs 1 request per connection it pages.
Requests / 100 rounded half up, minimum 1, is the price: up to 149 requests cost 1 point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.github.cost import MAX_PAGE, points_for

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

# Connections nested in each PR that need paging, with the fields of their nodes.
NESTED: dict[str, str] = {"reviews": REVIEW_NODE, "comments": COMMENT_NODE, "labels": LABEL_NODE}
# Nested connections per PR in the page query: the three above plus `commits { totalCount }`.
NESTED_PER_PR = len(NESTED) + 1
# Requests one point buys at best: 149 / 100 rounds to 1.
REQUESTS_PER_POINT = 149

PR_SCALARS = (
    "id fullDatabaseId number title body state isDraft merged createdAt updatedAt closedAt "
    "mergedAt additions deletions changedFiles baseRefName headRefName url"
)


def _connection(field: str, after_var: str | None = None) -> str:
    after = f", after: ${after_var}" if after_var else ""
    return (
        f"{field}(first: {MAX_PAGE}{after}) {{ totalCount pageInfo {{ endCursor hasNextPage }} "
        f"nodes {{ {NESTED[field]} }} }}"
    )


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
    """One more page of one nested connection of one PR, resumed after `after`."""

    pr_id: str
    field: str
    after: str | None


@dataclass(frozen=True)
class PageRequest:
    owner: str
    name: str
    first: int
    after: str | None
    # Backfills walk oldest first; syncs walk the most recently updated first.
    order: str = "CREATED_AT"
    direction: str = "ASC"


def batch_query(
    page: PageRequest | None, follow_ups: Sequence[FollowUp]
) -> tuple[str, dict[str, Any]]:
    """One document fetching a page of PRs and/or follow-up pages (aliased `f0`, `f1`, ...)."""
    params: list[str] = []
    body: list[str] = []
    variables: dict[str, Any] = {}
    if page is not None:
        params += ["$owner: String!", "$name: String!", "$first: Int!", "$after: String"]
        variables.update(owner=page.owner, name=page.name, first=page.first, after=page.after)
        body.append(
            "repository(owner: $owner, name: $name) { "
            "pullRequests(first: $first, after: $after, "
            f"orderBy: {{field: {page.order}, direction: {page.direction}}}) {{ "
            "totalCount pageInfo { endCursor hasNextPage } "
            f"edges {{ cursor node {{ {PR_FIELDS} }} }} }} }}"
        )
    for i, follow in enumerate(follow_ups):
        params += [f"$id{i}: ID!", f"$after{i}: String"]
        variables[f"id{i}"] = follow.pr_id
        variables[f"after{i}"] = follow.after
        body.append(
            f"f{i}: node(id: $id{i}) {{ ... on PullRequest {{ "
            f"{_connection(follow.field, f'after{i}')} }} }}"
        )
    if not body:
        raise ValueError("a batch needs a page or at least one follow-up")
    header = f"query Batch({', '.join(params)})" if params else "query Batch"
    return f"{header} {{ {' '.join(body)} {RATE_LIMIT_FIELDS} }}", variables


def batch_requests(page_size: int, follow_ups: int) -> int:
    """Requests (GitHub's cost unit) of `batch_query` with that many PRs and follow-ups."""
    page = 1 + NESTED_PER_PR * page_size if page_size > 0 else 0
    return page + follow_ups


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


def fill_size(follow_ups: int, max_page: int, points: int = 1) -> int:
    """How many new PRs fit beside `follow_ups` follow-ups without the batch costing more."""
    best = 0
    for n in range(1, max(0, min(max_page, MAX_PAGE)) + 1):
        if points_for(batch_requests(n, follow_ups)) <= points:
            best = n
    return best
