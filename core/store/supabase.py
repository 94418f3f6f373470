"""The Supabase transport: the SQL functions called by RPC through supabase-py's async client.

PostgREST runs each call in one transaction, so every atomic step stays one call, and
`commit_chunk` sends a whole page - pull requests, authors, reviews, comments - in one body.
Set-valued reads the console makes often come back as one jsonb value (PostgREST cuts row sets
at the project's "Max rows" silently); see migrations/20250121000000_supabase_snapshots.sql.

Errors come back as PostgREST's JSON (`code`, `message`, `details`, `hint`); supabase_errors.py
turns them into what the psycopg transport raises. The key never appears in a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic_core import to_jsonable_python
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from core.errors import ConfigError
from core.store.supabase_errors import (
    KEY_SETTING,
    Endpoint,
    RestError,
    check_key,
    normalise_url,
    raise_for_response,
    translate,
)
from core.store.transport import Json

__all__ = ["SupabaseTransport"]


def _encode(args: Mapping[str, Any]) -> dict[str, Any]:
    # One JSON body: UUIDs and datetimes as strings, timedeltas as ISO 8601 durations (which
    # Postgres reads as intervals), jsonb arguments as the JSON value itself.
    return {
        name: json.loads(v.text) if isinstance(v, Json) else to_jsonable_python(v, fallback=str)
        for name, v in args.items()
    }


class SupabaseTransport:
    """`Transport` over PostgREST, reached through supabase-py's `AsyncClient`."""

    def __init__(self, client: AsyncClient, http: httpx.AsyncClient, endpoint: Endpoint) -> None:
        self._client = client
        self._http = http
        self._endpoint = endpoint

    @classmethod
    async def connect(
        cls,
        url: str,
        service_key: str,
        *,
        max_connections: int = 10,
        request_timeout: float = 120,
        url_setting: str = "SUPABASE_URL",
    ) -> SupabaseTransport:
        """A client for the project at `url`; `url_setting` names its variable in messages.

        Raises `ConfigError` for a URL or key that cannot be right (before any request).
        """
        base = normalise_url(url, url_setting)
        check_key(service_key)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout, connect=10),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
            event_hooks={"response": [raise_for_response]},
        )
        try:
            # Retries off: supabase-py would retry reads on 503 and network errors, hiding
            # an outage behind 30 s of backoff; the engine has its own policy.
            options = AsyncClientOptions(httpx_client=http, postgrest_client_retry=False)
            client = await acreate_client(base, service_key, options)
        except Exception as exc:  # supabase-py validates URL and key shapes
            await http.aclose()
            raise ConfigError(
                f"{url_setting} or {KEY_SETTING} is malformed ({exc.__class__.__name__})"
            ) from None
        return cls(client, http, Endpoint(base, service_key, url_setting))

    async def close(self) -> None:
        await self._http.aclose()

    async def _rpc(self, function: str, args: Mapping[str, Any], limit: int | None) -> Any:
        request = self._client.rpc(function, _encode(args))
        if limit is not None:
            request = request.limit(limit)
        try:
            response = await request.execute()
        except (RestError, httpx.HTTPError) as exc:
            raise translate(exc, function=function, endpoint=self._endpoint) from None
        return response.data

    async def rows(
        self, function: str, args: Mapping[str, Any], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return list(await self._rpc(function, args, limit) or [])

    async def value(self, function: str, args: Mapping[str, Any]) -> Any:
        return await self._rpc(function, args, None)
