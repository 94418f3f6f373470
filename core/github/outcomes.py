"""The one place that decides what a GitHub answer means: answer -> exactly one bounded outcome.

`decide()` is a pure function of what came back (HTTP status, headers, body bytes, or the
exception the transport raised). The client applies the outcome (waits, retries, raises); the
worker applies what the client raises (`GitHubError.action`). Nothing else classifies answers.

| outcome         | what happens                                                            |
|-----------------|-------------------------------------------------------------------------|
| ok              | data used; errors located in one PR (`item_errors`) refuse that PR alone |
| wait            | until GitHub's reset / retry-after (GitHub's clock, from `Date`), bounded|
| shrink          | retry smaller (blips first retried in place, bounded)                    |
| fail_chunk      | chunk failed with the reason, cooldown; N in a row fail the backfill     |
| fail_backfill   | that repository's backfill failed with the reason; others go on          |
| stop            | every worker stops with one message (bad credentials, wrong endpoint)    |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.storable import storable_text


class Action(StrEnum):
    OK = "ok"
    WAIT = "wait"
    SHRINK = "shrink"
    FAIL_CHUNK = "fail_chunk"
    FAIL_BACKFILL = "fail_backfill"
    STOP = "stop"


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str = ""
    payload: dict[str, Any] | None = None  # ok: the parsed body
    limit: str | None = None  # wait: "primary" (until reset) or "secondary" (retry-after)
    retry_after: float | None = None  # wait/secondary: seconds GitHub gave, if any
    in_place: bool = False  # shrink: a blip; retry the same request first (bounded)
    timeout: bool = False  # shrink: GitHub killed the query (502/504, "went wrong", timedout)
    partial: bool = False  # ok: the answer carried errors, each located in one PR
    # ok: GitHub's words for each PR an error is located in: the edge's index in the page's
    # `pullRequests.edges` (int), or the alias of a follow-up or retry (`f0`, `r1`, `p2`).
    # That PR alone is refused with those words; the rest of the answer is used.
    item_errors: dict[int | str, str] = field(default_factory=dict)
    error_type: str | None = None  # the GraphQL error type that decided it, if any
    extra: dict[str, Any] = field(default_factory=dict)


class AnswerTooLarge(Exception):
    """The answer grew past the client's cap while being read."""


class AnswerDeadline(Exception):
    """The whole request (send, wait, read) took longer than its overall deadline."""


PRIMARY_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
SHRINK_TYPES = frozenset({"RESOURCE_LIMITS_EXCEEDED", "MAX_NODE_LIMIT_EXCEEDED"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# GitHub's own timeout, inside a 200 or a 502: "Something went wrong while executing your
# query. This may be the result of a timeout..." (older: {"message": "timedout"}).
TIMEOUT_WORDS = ("something went wrong while executing your query", "timedout")


def _lower(text: Any) -> str:
    return str(text or "").lower()


def is_secondary(message: str) -> bool:
    text = message.lower()
    return "secondary rate limit" in text or "abuse" in text


def is_primary_error(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    if error.get("type") in PRIMARY_TYPES or error.get("code") == "graphql_rate_limit":
        return True
    return is_primary_message(_lower(error.get("message")))


def is_primary_message(message: str) -> bool:
    text = message.lower()
    return "rate limit" in text and "exceeded" in text and not is_secondary(text)


def _parse(body: bytes | None) -> tuple[Any, str]:
    """(JSON or None, text) of a body; never raises (deep nesting, bad UTF-8, not JSON)."""
    if not body:
        return None, ""
    text = body[:2000].decode("utf-8", errors="replace")
    try:
        return json.loads(body), text
    except UnicodeDecodeError:
        # Bytes that are not UTF-8 inside some string (a proxy, a truncated character): kept
        # as lone surrogates, which the store makes storable and counts (core.storable),
        # instead of the whole answer refused for one field's text.
        try:
            return json.loads(body.decode("utf-8", errors="surrogateescape")), text
        except (ValueError, RecursionError):
            return None, text
    except (ValueError, RecursionError):
        return None, text


def _retry_after(headers: Mapping[str, str]) -> float | None:
    from email.utils import parsedate_to_datetime  # only for the rare date form

    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        return (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None


def decide(
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    error: BaseException | None = None,
) -> Outcome:
    """What to do with one HTTP answer (or the exception instead of one)."""
    headers = headers or {}
    if error is not None:
        return _decide_exception(error)
    assert status is not None
    payload, text = _parse(body)
    message = str(payload.get("message") or "") if isinstance(payload, dict) else text
    if status == 401:
        return Outcome(
            Action.STOP,
            "GitHub rejected the token (401 Bad credentials): "
            "set a valid, unrevoked token in GITHUB_TOKEN",
        )
    # Limits first, whatever the status: 403/429/200 with a REST-style message, JSON or text.
    if is_secondary(message) or (status in (403, 429) and headers.get("retry-after")):
        return Outcome(
            Action.WAIT,
            "GitHub secondary rate limit",
            limit="secondary",
            retry_after=_retry_after(headers),
        )
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if (
        is_primary_message(message)
        or (isinstance(errors, list) and any(is_primary_error(e) for e in errors))
        or (status in (403, 429) and headers.get("x-ratelimit-remaining") == "0")
    ):
        return Outcome(Action.WAIT, "GitHub says the GraphQL budget is spent", limit="primary")
    if status in (403, 429):
        return Outcome(
            Action.FAIL_BACKFILL,
            f"GitHub refused the request (HTTP {status}): {message[:200] or 'forbidden'}; "
            "check the scopes of GITHUB_TOKEN",
        )
    if status in TRANSIENT_STATUSES:
        said_timeout = any(w in message.lower() for w in (*TIMEOUT_WORDS, "in time"))
        what = "GitHub timed out on the query" if said_timeout else "GitHub failed"
        timeout = said_timeout or status in (502, 504)
        return Outcome(Action.SHRINK, f"{what} (HTTP {status})", in_place=True, timeout=timeout)
    if status == 404:
        return Outcome(Action.STOP, "no GraphQL endpoint (HTTP 404): check GITHUB_GRAPHQL_URL")
    if status != 200:
        return Outcome(
            Action.FAIL_CHUNK, f"GitHub answered HTTP {status}: {message[:200] or 'unexpected'}"
        )
    if not isinstance(payload, dict):
        return Outcome(Action.SHRINK, "malformed JSON body", in_place=True)
    if any(w in _lower(payload.get("message")) for w in TIMEOUT_WORDS):
        return Outcome(Action.SHRINK, "GitHub timed out on the query", timeout=True)
    if "data" not in payload and "errors" not in payload:
        return Outcome(Action.SHRINK, "malformed JSON body (no data, no errors)", in_place=True)
    data = payload.get("data")
    if not isinstance(errors or [], list) or not isinstance(data, dict | None):
        return Outcome(
            Action.FAIL_CHUNK, "GitHub answered with `data` or `errors` of the wrong type"
        )
    listed = [e for e in errors or [] if isinstance(e, dict)]
    outcome = _decide_errors(listed, payload)
    if outcome is not None:
        return outcome
    if not isinstance(data, dict):
        return Outcome(Action.SHRINK, "GitHub answered without data", in_place=True)
    return Outcome(
        Action.OK, payload=payload, partial=bool(errors), item_errors=_item_errors(listed)
    )


def item_of(path: Any) -> int | str | None:
    """The one PR an error's `path` points into, or None when it points at no single PR.

    `["repository", "pullRequests", "edges", 7, "node", "commits"]` is the 8th PR of the page
    (7); `["f0"]` or `["r1", "reviews"]` is the PR of that follow-up or retry alias (`f`,
    `r`, `n`, `p`)."""
    if not isinstance(path, list) or not path:
        return None
    if path[:3] == ["repository", "pullRequests", "edges"] and len(path) >= 4:
        return _index(path[3])
    head = path[0]
    if isinstance(head, str) and head[:1] in ("f", "r", "n", "p") and head[1:].isdigit():
        return head
    return None


def _index(value: Any) -> int | None:
    """An edge's index as a path gives it: an int, or its digits as a string ("7")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


def _item_errors(errors: list[dict[str, Any]]) -> dict[int | str, str]:
    """GitHub's words for each PR an error is located in (the first error of each)."""
    out: dict[int | str, str] = {}
    for error in errors:
        item = item_of(error.get("path"))
        if item is not None and item not in out:
            kind = error.get("type") or _dict(error.get("extensions")).get("code")
            where = ".".join(str(p) for p in error["path"])
            words = f"{kind or 'GraphQL error'} at {where}: {_first_line(error)}"
            out[item] = storable_text(words[:500])
    return out


def _decide_errors(errors: list[dict[str, Any]], payload: dict[str, Any]) -> Outcome | None:
    """None when every error is located in one PR beside data (each refuses that PR alone:
    `item_errors`); otherwise the outcome the errors not so located decide."""
    if not errors:
        return None
    for error in errors:
        if any(w in _lower(error.get("message")) for w in TIMEOUT_WORDS):
            return Outcome(
                Action.SHRINK,
                f"GitHub timed out on the query: {_first_line(error)}",
                timeout=True,
            )
    for error in errors:
        if error.get("type") in SHRINK_TYPES:
            return Outcome(
                Action.SHRINK,
                f"GitHub found the query too heavy ({_first_line(error)}); use a smaller page",
                error_type=error["type"],
            )
    beside_data = isinstance(payload.get("data"), dict)
    if beside_data:
        # Errors located in one PR beside data are that PR's alone (the smallest unit that
        # is bad is the one refused): only the others decide the answer's outcome.
        errors = [e for e in errors if item_of(e.get("path")) is None]
        if not errors:
            return None
    for error in errors:
        extensions = _dict(error.get("extensions"))
        saml = bool(extensions.get("saml_failure")) or "saml" in _lower(error.get("message"))
        # Only an error located at the repository itself (or one with no data beside it)
        # refuses the repository; one without a path, or at a part of the answer that is no
        # single PR, beside good data, fails the chunk (retried by the failure policy).
        at_repository = error.get("path") == ["repository"] or not beside_data
        if (error.get("type") == "FORBIDDEN" or saml) and at_repository:
            reason = (
                "the token needs SAML SSO authorisation for this organisation "
                "(GitHub: Settings > Tokens > Configure SSO > Authorize)"
                if saml
                else f"GitHub refuses this token access: {_first_line(error)}"
            )
            return Outcome(Action.FAIL_BACKFILL, reason, error_type="FORBIDDEN")
    for error in errors:
        path = error.get("path")
        path = path if isinstance(path, list) else []
        if error.get("type") == "NOT_FOUND" and path == ["repository"]:
            return Outcome(
                Action.FAIL_BACKFILL,
                "repository not found (or not visible to the credentials in use)",
                error_type="NOT_FOUND",
            )
    first = errors[0]
    extensions = _dict(first.get("extensions"))
    error_type = first.get("type") or extensions.get("code")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Outcome(
        Action.FAIL_CHUNK,
        f"GitHub answered an error: {_first_line(first)}{more}",
        error_type=error_type if isinstance(error_type, str) else None,
        extra={"path": first.get("path") if isinstance(first.get("path"), list) else None},
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first_line(error: dict[str, Any]) -> str:
    return str(error.get("message") or "GraphQL error").splitlines()[0][:300]


def _decide_exception(error: BaseException) -> Outcome:
    # httpx is imported here, not with the module: every command's exit statuses read
    # core.github.errors, which needs this module, and httpx costs `stats` ~0.15 s of start.
    import httpx

    if isinstance(error, AnswerTooLarge):
        return Outcome(Action.SHRINK, f"answer too large ({error}); smaller page")
    if isinstance(error, AnswerDeadline | httpx.TimeoutException | TimeoutError):
        return Outcome(Action.SHRINK, "timed out", in_place=True)
    if isinstance(error, httpx.DecodingError):
        return Outcome(Action.SHRINK, "the body does not match its Content-Encoding", in_place=True)
    if isinstance(error, httpx.TransportError):
        return Outcome(Action.SHRINK, f"connection failed ({type(error).__name__})", in_place=True)
    return Outcome(Action.FAIL_CHUNK, f"request failed ({type(error).__name__})")


# Answers that parse but are not what the query asked for (decided by the pager's checks).
def malformed(reason: str) -> Outcome:
    return Outcome(Action.FAIL_CHUNK, reason)


def no_progress(reason: str) -> Outcome:
    return Outcome(Action.FAIL_CHUNK, f"an answer that makes no progress: {reason}")
