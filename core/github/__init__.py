"""Talking to GitHub's GraphQL API (client, cost rule)."""

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
