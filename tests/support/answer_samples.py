"""Recorded-style samples of GitHub's answers, one per shape the client must handle.

Written by us from documented and publicly quoted shapes (none copied from a live capture):
- GitHub Docs, "Rate limits and query limits for the GraphQL API" (primary and secondary
  limits, x-ratelimit-* headers, retry-after, RESOURCE_LIMITS_EXCEEDED, timeouts);
- GitHub Docs, "Rate limits for the REST API", secondary-limit section (403 bodies);
- GitHub Docs, "Authenticating with SAML single sign-on" (FORBIDDEN + saml_failure);
- shapes quoted by client libraries' bug reports and tests: octokit/plugin-throttling.js
  (message-only rate limits, plain-text secondary limits), githubkit, Airbyte source-github
  ("Something went wrong while executing your query", `{"message": "timedout"}`);
- the schema `@octokit/graphql-schema` (fullDatabaseId BigInt, deprecated databaseId).
Each sample: (status, headers, body bytes or None, exception or None, expected action).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

RESET = "1750003600"
JSON_HEADERS = {"content-type": "application/json; charset=utf-8", "x-ratelimit-reset": RESET}


def _j(body: Any) -> bytes:
    return json.dumps(body).encode()


_REQ = httpx.Request("POST", "https://api.github.com/graphql")

SAMPLES: dict[str, tuple[int | None, dict[str, str], bytes | None, Exception | None, str]] = {
    "ok": (200, JSON_HEADERS, _j({"data": {"rateLimit": {"cost": 1}}}), None, "ok"),
    # case 1: GitHub's timeout inside a 200 (older and newer wording)
    "went_wrong_200": (
        200,
        JSON_HEADERS,
        _j(
            {
                "data": None,
                "errors": [
                    {
                        "message": "Something went wrong while executing your query. This may "
                        "be the result of a timeout, or it could be a GitHub bug. Please include "
                        "`C0DE:1234:5678AB:9ABCDE:66A1B2C3` when reporting this issue."
                    }
                ],
            }
        ),
        None,
        "shrink",
    ),
    "went_wrong_on_timestamp": (
        200,
        JSON_HEADERS,
        _j(
            {
                "errors": [
                    {
                        "message": "Something went wrong while executing your query on "
                        "2025-07-31T21:38:16Z."
                    }
                ]
            }
        ),
        None,
        "shrink",
    ),
    "timedout_message": (200, JSON_HEADERS, _j({"message": "timedout"}), None, "shrink"),
    "timeout_502": (
        502,
        JSON_HEADERS,
        _j({"data": None, "errors": [{"message": "Something went wrong while executing..."}]}),
        None,
        "shrink",
    ),
    "timeout_504": (
        504,
        JSON_HEADERS,
        _j({"message": "We couldn't respond to your request in time. Sorry about that."}),
        None,
        "shrink",
    ),
    "resource_limits": (
        200,
        JSON_HEADERS,
        _j(
            {
                "data": {"repository": None},
                "errors": [
                    {
                        "type": "RESOURCE_LIMITS_EXCEEDED",
                        "path": ["repository", "pullRequests"],
                        "message": "Resource limits for this query exceeded.",
                    }
                ],
            }
        ),
        None,
        "shrink",
    ),
    # case 2: SAML SSO enforcement
    "saml": (
        200,
        JSON_HEADERS,
        _j(
            {
                "data": {"repository": None},
                "errors": [
                    {
                        "type": "FORBIDDEN",
                        "path": ["repository"],
                        "extensions": {"saml_failure": True},
                        "locations": [{"line": 1, "column": 60}],
                        "message": "Resource protected by organization SAML enforcement. You "
                        "must grant your Personal Access token access to this organization.",
                    }
                ],
            }
        ),
        None,
        "fail_backfill",
    ),
    "repository_not_found": (
        200,
        JSON_HEADERS,
        _j(
            {
                "data": {"repository": None},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": ["repository"],
                        "message": "Could not resolve to a Repository with the name 'o/n'.",
                    }
                ],
            }
        ),
        None,
        "fail_backfill",
    ),
    # case 3: a PR deleted between the page and its follow-up
    "node_vanished": (
        200,
        JSON_HEADERS,
        _j(
            {
                "data": {"f0": None, "rateLimit": {"cost": 1}},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": ["f0"],
                        "message": "Could not resolve to a node with the global id of 'PR_x'",
                    }
                ],
            }
        ),
        None,
        "ok",
    ),
    # primary limit, both spellings, and (case 5) with a top-level message only
    "rate_limited": (
        200,
        {**JSON_HEADERS, "x-ratelimit-remaining": "0"},
        _j(
            {
                "data": None,
                "errors": [
                    {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}
                ],
            }
        ),
        None,
        "wait",
    ),
    "rate_limit_new": (
        200,
        JSON_HEADERS,
        _j(
            {
                "errors": [
                    {
                        "type": "RATE_LIMIT",
                        "code": "graphql_rate_limit",
                        "message": "API rate limit already exceeded for user ID 1.",
                    }
                ]
            }
        ),
        None,
        "wait",
    ),
    "rate_limit_message_only_200": (
        200,
        JSON_HEADERS,
        _j(
            {
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/graphql/overview/rate-limits",
            }
        ),
        None,
        "wait",
    ),
    "secondary_403_json": (
        403,
        {**JSON_HEADERS, "retry-after": "60"},
        _j(
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
            }
        ),
        None,
        "wait",
    ),
    "secondary_403_text": (
        403,
        {"content-type": "text/plain"},
        b"You have exceeded a secondary rate limit. Please wait a few minutes before you try "
        b"again.",
        None,
        "wait",
    ),
    "bad_credentials": (
        401,
        JSON_HEADERS,
        _j({"message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql"}),
        None,
        "stop",
    ),
    "invalid_query": (
        200,
        JSON_HEADERS,
        _j(
            {
                "errors": [
                    {
                        "path": ["query", "viewer", "nope"],
                        "extensions": {"code": "undefinedField", "typeName": "User"},
                        "locations": [{"line": 1, "column": 9}],
                        "message": "Field 'nope' doesn't exist on type 'User'",
                    }
                ]
            }
        ),
        None,
        "fail_chunk",
    ),
    "proxy_html_200": (200, {"content-type": "text/html"}, b"<html>busy</html>", None, "shrink"),
    # case 6: a body that does not match its Content-Encoding (httpx raises while reading)
    "bad_encoding": (
        None,
        {},
        None,
        httpx.DecodingError("Error -3 while decompressing data", request=_REQ),
        "shrink",
    ),
    "connection_reset": (
        None,
        {},
        None,
        httpx.ReadError("[Errno 104] Connection reset by peer", request=_REQ),
        "shrink",
    ),
    "deeply_nested": (200, JSON_HEADERS, b"[" * 100_000 + b"]" * 100_000, None, "shrink"),
}
