"""Normalized pull-request records: what the store commits, independent of GitHub's JSON shape.

`model_dump(mode="json")` gives the JSON the commit SQL function reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel


class Actor(BaseModel):
    """A user, bot or other account; `type` is GitHub's `__typename`."""

    github_id: str
    login: str
    type: str
    database_id: int | None = None
    avatar_url: str | None = None


class Review(BaseModel):
    github_id: str
    database_id: int | None
    author: Actor | None
    state: str
    body: str
    submitted_at: datetime | None
    created_at: datetime
    url: str | None


class Comment(BaseModel):
    github_id: str
    database_id: int | None
    author: Actor | None
    body: str
    created_at: datetime
    updated_at: datetime | None
    url: str | None


class ReviewComment(BaseModel):
    """An inline comment on the diff (GitHub's `PullRequestReviewComment`); `review_id` and
    `in_reply_to` are node ids (the store resolves the review to its row)."""

    github_id: str
    database_id: int | None
    author: Actor | None
    body: str
    path: str
    line: int | None
    original_line: int | None
    diff_hunk: str | None = None
    review_id: str | None
    in_reply_to: str | None
    created_at: datetime
    updated_at: datetime | None
    url: str | None


class ReviewThread(BaseModel):
    """A thread of inline comments on one place of the diff (`PullRequestReviewThread`):
    whether the feedback was addressed (`is_resolved`) or the code moved (`is_outdated`)."""

    github_id: str
    path: str
    line: int | None
    original_line: int | None
    start_line: int | None
    original_start_line: int | None
    diff_side: str | None
    is_resolved: bool
    is_outdated: bool
    is_collapsed: bool
    resolved_by: Actor | None
    comments: list[ReviewComment]


class PullRequest(BaseModel):
    github_id: str
    database_id: int | None
    number: int
    title: str
    body: str
    state: str
    is_draft: bool
    merged: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None
    additions: int
    deletions: int
    changed_files: int
    base_ref_name: str
    head_ref_name: str
    url: str
    author: Actor | None
    commits_count: int
    labels: list[str]
    reviews: list[Review]
    comments: list[Comment]
    # None: this answer did not ask for them (the store then leaves the stored ones alone).
    review_threads: list[ReviewThread] | None = None
    # A refused PR asked for again alone: the key of its pull_request_failures row, cleared
    # when it is stored (and left out of a sync's watermark: it is not part of the walk).
    retry_of: str | None = None
    # The place it holds in its page, `cursor:<cursor before it>+k` (the k-th PR after that
    # cursor): a null edge refused at that place earlier (same key) is cleared when it is stored.
    position_key: str | None = None

    @classmethod
    def from_graphql(
        cls, raw: dict[str, Any], nodes: Mapping[str, list[dict[str, Any]]]
    ) -> PullRequest:
        """One PR node and its complete nested connections (`reviews`, `comments`, `labels`).

        The GraphQL names are mapped to plain dicts and the whole tree is validated in one
        call: a model per review and comment costs ~10x more, and a PR has dozens.
        """
        return cls.model_validate(
            {
                "github_id": raw["id"],
                "database_id": _big_id(raw.get("fullDatabaseId")),
                "number": raw["number"],
                "title": raw.get("title") or "",
                "body": raw.get("body") or "",
                "state": raw["state"],
                "is_draft": bool(raw.get("isDraft")),
                "merged": bool(raw.get("merged")),
                "created_at": raw["createdAt"],
                "updated_at": raw["updatedAt"],
                "closed_at": raw.get("closedAt"),
                "merged_at": raw.get("mergedAt"),
                "additions": raw.get("additions") or 0,
                "deletions": raw.get("deletions") or 0,
                "changed_files": raw.get("changedFiles") or 0,
                "base_ref_name": raw.get("baseRefName") or "",
                "head_ref_name": raw.get("headRefName") or "",
                "url": raw.get("url") or "",
                "author": _actor(raw.get("author"), raw["id"]),
                "commits_count": int((raw.get("commits") or {}).get("totalCount") or 0),
                "labels": [label["name"] for label in nodes.get("labels", [])],
                "reviews": [
                    {
                        "github_id": r["id"],
                        "database_id": _big_id(r.get("fullDatabaseId")),
                        "author": _actor(r.get("author"), r["id"]),
                        "state": r["state"],
                        "body": r.get("body") or "",
                        "submitted_at": r.get("submittedAt"),
                        "created_at": r["createdAt"],
                        "url": r.get("url"),
                    }
                    for r in nodes.get("reviews", [])
                ],
                "comments": [
                    {
                        "github_id": c["id"],
                        "database_id": _big_id(c.get("fullDatabaseId")),
                        "author": _actor(c.get("author"), c["id"]),
                        "body": c.get("body") or "",
                        "created_at": c["createdAt"],
                        "updated_at": c.get("updatedAt"),
                        "url": c.get("url"),
                    }
                    for c in nodes.get("comments", [])
                ],
                "review_threads": _threads(nodes) if "reviewThreads" in nodes else None,
            }
        )

    @property
    def authors(self) -> list[Actor]:
        """Every distinct account this PR mentions (PR, review and comment authors)."""
        seen: dict[str, Actor] = {}
        threads = self.review_threads or []
        for actor in (
            [self.author, *(r.author for r in self.reviews)]
            + [c.author for c in self.comments]
            + [t.resolved_by for t in threads]
            + [c.author for t in threads for c in t.comments]
        ):
            if actor is not None:
                seen.setdefault(actor.github_id, actor)
        return list(seen.values())


# The key under which a thread's complete comments are collected (`RepoBuffer`): the comments
# nested in the thread's node are only its first page.
THREAD_COMMENTS = "thread:"


def _threads(nodes: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """GraphQL's `reviewThreads` nodes (each with its comments collected under
    THREAD_COMMENTS + id) as ReviewThread dicts."""
    return [
        {
            "github_id": t["id"],
            "path": t.get("path") or "",
            "line": t.get("line"),
            "original_line": t.get("originalLine"),
            "start_line": t.get("startLine"),
            "original_start_line": t.get("originalStartLine"),
            "diff_side": t.get("diffSide"),
            "is_resolved": bool(t.get("isResolved")),
            "is_outdated": bool(t.get("isOutdated")),
            "is_collapsed": bool(t.get("isCollapsed")),
            "resolved_by": _actor(t.get("resolvedBy"), t["id"]),
            "comments": [
                {
                    "github_id": c["id"],
                    "database_id": _big_id(c.get("fullDatabaseId")),
                    "author": _actor(c.get("author"), c["id"]),
                    "body": c.get("body") or "",
                    "path": c.get("path") or t.get("path") or "",
                    "line": c.get("line"),
                    "original_line": c.get("originalLine"),
                    "diff_hunk": c.get("diffHunk"),
                    "review_id": (c.get("pullRequestReview") or {}).get("id"),
                    "in_reply_to": (c.get("replyTo") or {}).get("id"),
                    "created_at": c["createdAt"],
                    "updated_at": c.get("updatedAt"),
                    "url": c.get("url"),
                }
                for c in nodes.get(THREAD_COMMENTS + t["id"], [])
            ],
        }
        for t in nodes.get("reviewThreads", [])
    ]


BIGINT_MAX = 2**63 - 1  # the store's `database_id bigint`


def _big_id(value: Any) -> int | None:
    """GitHub's `fullDatabaseId` (a BigInt sent as a string) as an int; None when absent or
    beyond a bigint (the node id stays the key; nothing else depends on it)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"fullDatabaseId {str(value)[:40]!r} is not a number") from None
    return number if 0 <= number <= BIGINT_MAX else None


def _actor(raw: dict[str, Any] | None, item_id: str) -> dict[str, Any] | None:
    """The author of item `item_id`, keyed by its node id (every Actor type is a Node); None
    for deleted accounts (GitHub returns `author: null`, or a node without a login).

    An author without an id (a type GitHub adds that is not a Node) is keyed to the item it
    wrote: a login names different accounts (mannequins, enterprise accounts, a login freed
    and taken again), so keying by it could merge two; this key never does."""
    if not raw or not raw.get("login"):
        return None
    typename = raw.get("__typename") or "User"
    return {
        "github_id": raw.get("id") or f"{typename}:{raw['login']}@{item_id}",
        "login": raw["login"],
        "type": typename,
        "database_id": raw.get("databaseId"),
        "avatar_url": raw.get("avatarUrl"),
    }


class RefusedPullRequest(BaseModel):
    """A PR whose own data is wrong, short, forbidden or missing: recorded in
    pull_request_failures with the reason (GitHub's words when it gave some), counted as
    refused by the completion check, never stored half-read; its page goes on without it,
    and it is asked for again alone later (`RetryRequest`).

    `github_id` is the key it is recorded by: its node id, or for a PR GitHub sent without
    one (a null node), `cursor:` and its edge's cursor, with `position_cursor` (the cursor
    right before it) and `position_order` (its walk's order) to ask for it again."""

    github_id: str
    number: int | None
    reason: str
    position_cursor: str | None = None
    position_order: str | None = None

    def as_refusal(self) -> dict[str, Any]:
        """The element of a commit's page that records this PR as refused (store_page)."""
        return {
            "refused": self.reason,
            "github_id": self.github_id,
            "number": self.number,
            "position_cursor": self.position_cursor,
            "position_order": self.position_order,
        }


class RetryRequest(Protocol):
    """A refused PR due to be asked for again alone (the store's `pull_requests_to_retry`
    row): by its node id, else by its number, else by its position (the PR right after
    `position_cursor` in `position_order`). `github_id` is its pull_request_failures key."""

    @property
    def github_id(self) -> str: ...
    @property
    def node_id(self) -> str | None: ...
    @property
    def number(self) -> int | None: ...
    @property
    def position_cursor(self) -> str | None: ...
    @property
    def position_order(self) -> str | None: ...


# GitHub's enum values as of this schema. GitHub adds values without notice: one it has not
# listed here is stored as sent and reported (`PullRequestPage.unknown_values`), never refused.
KNOWN_VALUES: dict[str, frozenset[str]] = {
    "pull request state": frozenset({"OPEN", "CLOSED", "MERGED"}),
    "review state": frozenset(
        {"PENDING", "COMMENTED", "APPROVED", "CHANGES_REQUESTED", "DISMISSED"}
    ),
    "account type": frozenset(
        {"User", "Bot", "Mannequin", "Organization", "EnterpriseUserAccount"}
    ),
}


def unknown_values(pr: PullRequest) -> list[str]:
    """The enum values of `pr` GitHub added after KNOWN_VALUES, e.g. `review state 'X' (#12)`."""
    found = [("pull request state", pr.state)]
    found += [("review state", r.state) for r in pr.reviews]
    found += [("account type", a.type) for a in pr.authors]
    return [
        f"{what} {value[:40]!r} (#{pr.number})"
        for what, value in found
        if value not in KNOWN_VALUES[what]
    ]


class PullRequestPage(BaseModel):
    """One chunk: complete PRs, oldest first, and where the next chunk starts.

    `cost` is the points spent by the queries issued while assembling this page (follow-ups
    included); PRs prefetched for the next page may share those queries.
    """

    pull_requests: list[PullRequest]
    # PRs of this page refused for their own data (the cursor moves past them).
    refused: list[RefusedPullRequest] = []
    # Enum values GitHub added since KNOWN_VALUES, stored as sent (reported, never refused).
    unknown_values: list[str] = []
    end_cursor: str | None
    has_next_page: bool
    total_count: int
    cost: int
    # The slowest response (seconds, as the pacer measured it) among the queries issued for
    # this page: what page sizes are tuned by.
    slowest_seconds: float = 0.0
