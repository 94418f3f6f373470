"""Talking to GitHub's GraphQL API (client, cost rule).

The names below load on first use (PEP 562): importing `core.github.errors` (every command's
exit statuses) must not load the client and its HTTP, JWT and GraphQL libraries, which cost
a CLI command like `stats` ~0.4 s of its start."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.github.client import GitHubClient
    from core.github.errors import (
        AuthenticationError,
        GitHubError,
        GraphQLError,
        RateLimitedError,
        RepositoryNotFound,
        ResourceLimitsExceeded,
        SecondaryRateLimitError,
        TransientError,
    )
    from core.github.metrics import RateLimitMetrics
    from core.github.models import Actor, Comment, PullRequest, PullRequestPage, Review
    from core.github.queries import best_page_size

_WHERE = {
    "GitHubClient": "core.github.client",
    "AuthenticationError": "core.github.errors",
    "GitHubError": "core.github.errors",
    "GraphQLError": "core.github.errors",
    "RateLimitedError": "core.github.errors",
    "RepositoryNotFound": "core.github.errors",
    "ResourceLimitsExceeded": "core.github.errors",
    "SecondaryRateLimitError": "core.github.errors",
    "TransientError": "core.github.errors",
    "RateLimitMetrics": "core.github.metrics",
    "Actor": "core.github.models",
    "Comment": "core.github.models",
    "PullRequest": "core.github.models",
    "PullRequestPage": "core.github.models",
    "Review": "core.github.models",
    "best_page_size": "core.github.queries",
}

__all__ = [
    "Actor",
    "AuthenticationError",
    "Comment",
    "GitHubClient",
    "GitHubError",
    "GraphQLError",
    "PullRequest",
    "PullRequestPage",
    "RateLimitMetrics",
    "RateLimitedError",
    "RepositoryNotFound",
    "ResourceLimitsExceeded",
    "Review",
    "SecondaryRateLimitError",
    "TransientError",
    "best_page_size",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'core.github' has no attribute {name!r}")
    return getattr(importlib.import_module(where), name)
