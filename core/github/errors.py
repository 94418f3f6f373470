"""Errors the GitHub client raises, one type per thing a caller must do differently.

Messages and attributes never carry the token: nothing here holds a request object or headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.errors import BackfillError
from core.github.outcomes import Action


class GitHubError(BackfillError):
    """Base for every failure talking to GitHub's GraphQL API."""

    type: str = "GITHUB_ERROR"
    # What the worker does with it: the outcome `core.github.outcomes.decide` chose.
    action: Action = Action.FAIL_CHUNK
    shrink_page: bool = False
    fatal: bool = False


class RateLimitedError(GitHubError):
    """The primary point budget is (or would be) exhausted until `reset_at`.

    Mirrors the spec's `{type: 'RATE_LIMITED', resetAt, waitTime}`: `wait_time` is in ms.
    """

    type = "RATE_LIMITED"
    action = Action.WAIT

    def __init__(
        self,
        message: str,
        *,
        reset_at: datetime,
        remaining: int | None = None,
        estimated_cost: int | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.reset_at = reset_at
        self.remaining = remaining
        self.estimated_cost = estimated_cost
        current = now or datetime.now(UTC)
        self.wait_time = max(0, int((reset_at - current).total_seconds() * 1000))

    @property
    def reset_at_iso(self) -> str:
        return self.reset_at.isoformat()


class ReserveExceedsBudget(GitHubError):
    """MIN_GRAPHQL_POINTS keeps at least this token's whole budget in reserve: no query could
    ever run, and waiting for resets would wait forever. Fatal, like bad credentials: every
    worker using the token stops with one line saying what to set."""

    type = "RESERVE_EXCEEDS_BUDGET"
    action = Action.STOP
    fatal = True
    exit_code = 2

    def __init__(self, reserve: int, limit: int) -> None:
        super().__init__(
            f"MIN_GRAPHQL_POINTS is {reserve:,}, but this token's whole GraphQL budget is "
            f"{limit:,} points per window: nothing could ever run; set MIN_GRAPHQL_POINTS "
            f"below {limit:,} (default 500)"
        )
        self.reserve = reserve
        self.limit = limit


class SecondaryRateLimitError(GitHubError):
    """GitHub's abuse/secondary limit kept answering after the bounded waits."""

    type = "SECONDARY_RATE_LIMITED"
    action = Action.WAIT

    def __init__(self, message: str, *, retry_after: float | None, attempts: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.attempts = attempts
        self.wait_time = int((retry_after or 60) * 1000)


class AuthenticationError(GitHubError):
    """401: the token is wrong or revoked. Fatal: every worker using it must stop."""

    type = "UNAUTHENTICATED"
    action = Action.STOP
    fatal = True
    exit_code = 3


class RepositoryNotFound(GitHubError):
    """GitHub resolves no repository with that name (or the token cannot see it)."""

    type = "NOT_FOUND"
    action = Action.FAIL_BACKFILL

    def __init__(self, owner: str, name: str) -> None:
        super().__init__(
            f"repository {owner}/{name} not found (or not visible to the credentials in use)"
        )
        self.owner = owner
        self.name = name


class TransientError(GitHubError):
    """Timeouts, 5xx, dropped connections, bodies that are not JSON: still failing after retries.

    GitHub kills requests running over 10 s, so the caller should halve its page and retry.
    """

    type = "TRANSIENT"
    action = Action.SHRINK
    shrink_page = True

    def __init__(
        self, message: str, *, attempts: int, status: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.reason = reason  # what GitHub's last answer was, without advice for workers


class MalformedResponse(GitHubError):
    """GitHub answered 200 with JSON that is not the shape the query asked for (a proxy, a
    partial body, a GitHub bug), or an answer that makes no progress. Nothing of it is used;
    the chunk fails with this reason and the page is fetched again later (bounded)."""

    type = "MALFORMED_RESPONSE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.attempts = 1


class ResourceLimitsExceeded(GitHubError):
    """GitHub refused the query as too heavy; a smaller page will pass."""

    type = "RESOURCE_LIMITS_EXCEEDED"
    action = Action.SHRINK
    shrink_page = True


class GraphQLError(GitHubError):
    """Any other error GitHub put in `errors[]`, with its own type and path."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        path: Sequence[str | int] | None = None,
        action: Action = Action.FAIL_CHUNK,
    ) -> None:
        super().__init__(message)
        self.type = type or "GRAPHQL_ERROR"
        self.path = list(path) if path else None
        self.action = action


class BackfillRefused(GitHubError):
    """GitHub will not serve this repository to this token (SAML SSO, FORBIDDEN, a 403):
    retrying cannot help, so the backfill fails with the reason; others go on."""

    type = "FORBIDDEN"
    action = Action.FAIL_BACKFILL


class EndpointMissing(GitHubError):
    """No GraphQL endpoint at the configured URL: every worker would fail the same way."""

    type = "NO_ENDPOINT"
    action = Action.STOP
    fatal = True
    exit_code = 2
