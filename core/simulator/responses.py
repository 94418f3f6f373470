"""GitHub's response shapes: status codes, headers and error bodies, in one place.

Bodies are copied from GitHub's docs and from what clients report (the samples, with their
sources, are in
tests/support/answer_samples.py); the simulator never invents another shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

GRAPHQL_DOCS = "https://docs.github.com/graphql"
SECONDARY_DOCS = (
    "https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api"
    "#secondary-rate-limits"
)


@dataclass
class SimResponse:
    """What a server should send. `delay` is real time to wait first; `reset` means: drop the
    connection instead of answering."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    reset: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between bytes of the body (a trickling answer)
    pad: int = 0  # spaces sent after the body (a huge answer, never held in memory)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class RateSnapshot:
    """A token's primary budget at one moment, as headers and `rateLimit` report it."""

    limit: int
    used: int
    reset_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_epoch(self) -> int:
        return math.ceil(self.reset_at)

    @property
    def reset_iso(self) -> str:
        return datetime.fromtimestamp(self.reset_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def headers(request_id: str, rate: RateSnapshot, extra: dict[str, str] | None = None):
    out = {
        "content-type": "application/json; charset=utf-8",
        "server": "github.com",
        "x-github-media-type": "github.v4; format=json",
        "x-ratelimit-limit": str(rate.limit),
        "x-ratelimit-remaining": str(rate.remaining),
        "x-ratelimit-used": str(rate.used),
        "x-ratelimit-reset": str(rate.reset_epoch),
        "x-ratelimit-resource": "graphql",
        "x-github-request-id": request_id,
    }
    if extra:
        out.update(extra)
    return out


def dump(body: Any) -> bytes:
    """Compact UTF-8 JSON, as GitHub sends it; encoded in Rust (json.dumps was ~15% of a page).

    Text holding a lone surrogate (a client cut an emoji in half; GitHub stores and serves
    it) goes out as JSON carries it, the escape `\\ud800`: the Rust encoder refuses it, so
    such an answer is encoded by json.dumps, which escapes every non-ASCII character."""
    try:
        return to_json(body)
    except PydanticSerializationError:
        return json.dumps(body, separators=(",", ":")).encode()


def bad_credentials() -> dict[str, Any]:
    return {"message": "Bad credentials", "documentation_url": GRAPHQL_DOCS}


def secondary_limit(request_id: str) -> dict[str, Any]:
    return {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
        "you try again. If you reach out to GitHub Support for help, please include the "
        f"request ID {request_id}.",
        "documentation_url": SECONDARY_DOCS,
    }


def rate_limited(user_id: int, style: str) -> dict[str, Any]:
    if style == "new":
        return {
            "errors": [
                {
                    "type": "RATE_LIMIT",
                    "code": "graphql_rate_limit",
                    "message": f"API rate limit already exceeded for user ID {user_id}.",
                }
            ]
        }
    return {
        "data": None,
        "errors": [
            {"type": "RATE_LIMITED", "message": f"API rate limit exceeded for user ID {user_id}."}
        ],
    }


def timeout_502(request_id: str) -> dict[str, Any]:
    return {
        "data": None,
        "errors": [
            {
                "message": "Something went wrong while executing your query. This may be the "
                "result of a timeout, or it could be a GitHub bug. Please include "
                f"`{request_id}` when reporting this issue."
            }
        ],
    }


def timeout_504() -> dict[str, Any]:
    return {
        "message": "We couldn't respond to your request in time. Sorry about that. Please try "
        "resubmitting your request and contact us if the problem persists."
    }


def node_limit(connection: str, nodes: int) -> dict[str, Any]:
    return {
        "errors": [
            {
                "type": "MAX_NODE_LIMIT_EXCEEDED",
                "message": f"By the time this query traverses to the {connection} connection, "
                f"it is requesting up to {nodes:,} possible nodes which exceeds the maximum "
                "limit of 500,000.",
            }
        ]
    }


def not_found() -> dict[str, Any]:
    return {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def problems_parsing_json() -> dict[str, Any]:
    return {"message": "Problems parsing JSON", "documentation_url": GRAPHQL_DOCS}


def went_wrong(request_id: str) -> dict[str, Any]:
    """GitHub's own timeout inside an HTTP 200 (the same words as its 502 body)."""
    return timeout_502(request_id)


def message_rate_limit(user_id: int) -> dict[str, Any]:
    """A primary limit with no `errors` list: only a REST-style top-level message."""
    return {
        "message": f"API rate limit exceeded for user ID {user_id}.",
        "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api",
    }


SECONDARY_TEXT = (
    b"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def integration_forbidden(path: list[Any]) -> dict[str, Any]:
    """A field this token (a GitHub App's installation without that permission) may not read:
    the field, and up to the first nullable parent, null in `data`; the rest answered."""
    return {
        "type": "FORBIDDEN",
        "path": path,
        "extensions": {"saml_failure": False},
        "locations": [{"line": 1, "column": 1}],
        "message": "Resource not accessible by integration",
    }


def saml_forbidden(path: list[Any]) -> dict[str, Any]:
    return {
        "type": "FORBIDDEN",
        "path": path,
        "extensions": {"saml_failure": True},
        "message": "Resource protected by organization SAML enforcement. You must grant your "
        "Personal Access token access to this organization.",
    }
