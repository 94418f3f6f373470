"""Normalized pull-request records: what the store commits, independent of GitHub's JSON shape.

`model_dump(mode="json")` gives the JSON the commit SQL function reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class Actor(BaseModel):
    """A user, bot or other account; `type` is GitHub's `__typename`."""

    github_id: str
    login: str
    type: str
    database_id: int | None = None
    avatar_url: str | None = None

    @classmethod
    def from_graphql(cls, raw: dict[str, Any] | None) -> Actor | None:
        """None for deleted accounts (GitHub returns `author: null`, or a node without an id)."""
        if not raw or not raw.get("login"):
            return None
        typename = raw.get("__typename") or "User"
        return cls(
            github_id=raw.get("id") or f"{typename}:{raw['login']}",
            login=raw["login"],
            type=typename,
            database_id=raw.get("databaseId"),
            avatar_url=raw.get("avatarUrl"),
        )


class Review(BaseModel):
    github_id: str
    database_id: int | None
    author: Actor | None
    state: str
    body: str
    submitted_at: datetime | None
    created_at: datetime
    url: str | None

    @classmethod
    def from_graphql(cls, raw: dict[str, Any]) -> Review:
        return cls(
            github_id=raw["id"],
            database_id=raw.get("databaseId"),
            author=Actor.from_graphql(raw.get("author")),
            state=raw["state"],
            body=raw.get("body") or "",
            submitted_at=raw.get("submittedAt"),
            created_at=raw["createdAt"],
            url=raw.get("url"),
        )


class Comment(BaseModel):
    github_id: str
    database_id: int | None
    author: Actor | None
    body: str
    created_at: datetime
    updated_at: datetime | None
    url: str | None

    @classmethod
    def from_graphql(cls, raw: dict[str, Any]) -> Comment:
        return cls(
            github_id=raw["id"],
            database_id=raw.get("databaseId"),
            author=Actor.from_graphql(raw.get("author")),
            body=raw.get("body") or "",
            created_at=raw["createdAt"],
            updated_at=raw.get("updatedAt"),
            url=raw.get("url"),
        )


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

    @property
    def authors(self) -> list[Actor]:
        """Every distinct account this PR mentions (PR, review and comment authors)."""
        seen: dict[str, Actor] = {}
        for actor in [self.author, *(r.author for r in self.reviews)] + [
            c.author for c in self.comments
        ]:
            if actor is not None:
                seen.setdefault(actor.github_id, actor)
        return list(seen.values())


class PullRequestPage(BaseModel):
    """One chunk: complete PRs, oldest first, and where the next chunk starts.

    `cost` is the points spent by the queries issued while assembling this page (follow-ups
    included); PRs prefetched for the next page may share those queries.
    """

    pull_requests: list[PullRequest]
    end_cursor: str | None
    has_next_page: bool
    total_count: int
    cost: int
