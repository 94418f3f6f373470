"""PostgREST's errors, and the gateway's, turned into the errors the psycopg transport raises.

- a SQLSTATE (`P0002`, `22023`, `40P01`, ...): that `psycopg.errors` class;
- the JWT rejected (`PGRST30x`, or a gateway's 401): `ConfigError` naming SUPABASE_SERVICE_KEY;
- `42501` with the configured key: `ConfigError`, it is not the service_role key;
- a function or table missing (`PGRST202`, `42883`): `StoreUnavailable`, apply the migrations;
- PostgREST cannot reach Postgres (`PGRST00x`): `StoreUnavailable`;
- a body too large (HTTP 413): `PageTooLarge`, so the worker splits the page;
- no answer or a gateway's 5xx: `StoreUnavailable`; the gateway's 404: `ConfigError`; both
  name SUPABASE_URL.

Messages never carry the key: it is checked for and masked before anything is raised.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import psycopg.errors

from core.errors import BackfillError, ConfigError, PageTooLarge, StoreUnavailable
from core.secrets import token_url_problem

KEY_SETTING = "SUPABASE_SERVICE_KEY"
_HOW_TO_MIGRATE = (
    "apply migrations/ with `supabase db push`, or set DATABASE_URL to the project's "
    "connection string and run `backfill-console migrate`"
)
_SQLSTATE = re.compile(r"^[0-9A-Z]{5}$")


class RestError(Exception):
    """A non-2xx answer, raised from an httpx response hook while the status is still known."""

    def __init__(
        self, status: int, code: str | None, message: str, details: Any = None, hint: Any = None
    ) -> None:
        super().__init__(f"HTTP {status} {code or ''}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint


async def raise_for_response(response: httpx.Response) -> None:
    """httpx response hook: every error answer becomes a `RestError` with its HTTP status."""
    if response.status_code < 400:
        return
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        raise RestError(
            response.status_code,
            body.get("code"),
            str(body.get("message") or body.get("msg") or response.reason_phrase),
            body.get("details"),
            body.get("hint"),
        )
    raise RestError(response.status_code, None, response.reason_phrase or "error")


@dataclass(frozen=True)
class Endpoint:
    """Where the store talks to, and the names of the settings that said so."""

    url: str
    key: str = field(repr=False)  # a secret: never in a repr
    url_setting: str = "SUPABASE_URL"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"


def normalise_url(url: str, setting: str = "SUPABASE_URL") -> str:
    """The project URL supabase-py expects, from what users paste (with or without /rest/v1)."""
    text = url.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed port
        valid = False
    if not valid:
        raise ConfigError(
            f"{setting} must be the project's URL, like https://<project>.supabase.co"
        )
    problem = token_url_problem(text, setting, KEY_SETTING)
    if problem:
        raise ConfigError(problem)
    if text.endswith("/rest/v1"):
        text = text[: -len("/rest/v1")]
    return text


def key_role(key: str) -> str | None:
    """The `role` claim of a JWT API key, read without verifying it (the server does that)."""
    pieces = key.split(".")
    if len(pieces) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(pieces[1] + "=" * (-len(pieces[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) else None


def check_key(key: str) -> None:
    """Refuse, before any request, keys that cannot be the service key."""
    if not key or key != key.strip() or any(c.isspace() for c in key):
        raise ConfigError(f"{KEY_SETTING} is empty or contains whitespace")
    role = key_role(key)
    if key.startswith("sb_publishable_") or (role is not None and role != "service_role"):
        kind = f"the project's '{role}' key" if role else "a publishable key"
        raise ConfigError(
            f"{KEY_SETTING} is {kind}; the backfill needs the service_role (secret) key "
            "from Project Settings > API"
        )


def _mask(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


def _describe(error: RestError) -> str:
    extra = [str(part) for part in (error.details, error.hint) if part]
    return error.message + (f" ({'; '.join(extra)})" if extra else "")


def translate(exc: Exception, *, function: str, endpoint: Endpoint) -> Exception:
    """The exception to raise instead of `exc`, with a message safe to print."""
    result = _translate(exc, function=function, endpoint=endpoint)
    if isinstance(result, BackfillError | psycopg.Error) and endpoint.key in str(result):
        return result.__class__(_mask(str(result), endpoint.key))
    return result


def _translate(exc: Exception, *, function: str, endpoint: Endpoint) -> Exception:
    origin, setting = endpoint.origin, endpoint.url_setting
    if isinstance(exc, httpx.TimeoutException):
        return StoreUnavailable(
            f"Supabase at {origin} (from {setting}) did not answer {function} in time"
        )
    if isinstance(exc, httpx.HTTPError):
        reason = str(exc).strip() or exc.__class__.__name__
        return StoreUnavailable(f"cannot reach Supabase at {origin} (from {setting}): {reason}")
    if not isinstance(exc, RestError):
        return exc
    code = exc.code or ""
    if exc.status == 413:  # the gateway's (or PostgREST's) body limit: split, do not retry
        return PageTooLarge(
            f"Supabase at {origin} (from {setting}) refused {function} as too large (HTTP 413)"
        )
    if code.startswith("PGRST3") or (not code and exc.status in (401, 403)):
        return ConfigError(
            f"{KEY_SETTING} was rejected by Supabase at {origin} ({exc.message}): set it to the "
            "project's service_role key (Project Settings > API)"
        )
    if code == "42501":
        return ConfigError(
            f"{KEY_SETTING} may not call {function} (permission denied): it must be the "
            "project's service_role key, not the anon key"
        )
    if code in ("PGRST202", "PGRST205"):  # PostgREST's schema cache lacks it
        return StoreUnavailable(
            f"Supabase's REST API at {origin} (from {setting}) does not know {function}: "
            f"either the schema is behind ({_HOW_TO_MIGRATE}), or the migrations are applied "
            "and PostgREST missed the reload notice: run NOTIFY pgrst, 'reload schema'; in "
            "the SQL editor (or restart the API)"
        )
    if code in ("42883", "42P01"):
        return StoreUnavailable(
            f"the database behind {setting} has no {function}: its schema is behind; "
            + _HOW_TO_MIGRATE
        )
    if code.startswith("PGRST0"):
        return StoreUnavailable(
            f"Supabase's REST API at {origin} (from {setting}) cannot reach its database "
            f"({code}: {exc.message})"
        )
    if not code:
        if exc.status == 404:
            return ConfigError(
                f"{setting} does not point at a Supabase project: {origin} has no REST API at "
                "/rest/v1 (HTTP 404)"
            )
        return StoreUnavailable(
            f"Supabase's REST API at {origin} (from {setting}) is not answering properly "
            f"(HTTP {exc.status}: {exc.message})"
        )
    if _SQLSTATE.match(code):
        try:
            cls: type[psycopg.Error] = psycopg.errors.lookup(code)
        except KeyError:
            cls = psycopg.DatabaseError
        return cls(_describe(exc))
    return StoreUnavailable(
        f"Supabase's REST API at {origin} (from {setting}) refused {function} "
        f"(HTTP {exc.status}, {code}): "
        f"{_describe(exc)}"
    )
