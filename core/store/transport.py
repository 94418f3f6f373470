"""The wire under the store: call one SQL function by name, with named arguments.

Every atomic step is a SQL function in migrations/. A transport only knows how to send such a
call and bring back its rows or its value, and how to turn the wire's errors into the
`psycopg.errors` class of their SQLSTATE (or `StoreUnavailable`/`ConfigError`). `Store`
(store.py) says once, for both transports, which function each step calls with which
arguments and which model comes back: procrastinate's manager over a thin connector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic_core import to_json

# Postgres text cannot hold U+0000, and jsonb refuses its escape: one NUL in one PR title
# would sink a whole page. An escaped NUL (`\u0000` not itself preceded by an escaping
# backslash) becomes U+FFFD, the replacement character.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


@dataclass(frozen=True, slots=True)
class Json:
    """JSON text for a `jsonb` parameter, and how many NULs were replaced to make it storable.

    Encoded once, in Rust (`pydantic_core.to_json`, models included): json.dumps of model
    dumps was a quarter of a worker's CPU.
    """

    text: str
    replaced_nuls: int = 0

    @classmethod
    def encode(cls, value: Any) -> Json:
        data = to_json(value, fallback=str)
        replaced = 0
        if b"\\u0000" in data:
            data, replaced = _ESCAPED_NUL.subn(rb"\1\\ufffd", data)
        return cls(data.decode(), replaced)


class Transport(Protocol):
    """Named-argument calls of the SQL API.

    `args` map the SQL parameter names (`p_chunk_id`, ...) to Python values: str, int, float,
    bool, None, UUID, datetime, timedelta (an `interval`), lists of those, or `Json` text.
    """

    async def rows(
        self, function: str, args: Mapping[str, Any], *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The rows a set-returning function gives (at most `limit`), as column->value dicts."""
        ...

    async def value(self, function: str, args: Mapping[str, Any]) -> Any:
        """What a scalar function returns; `jsonb` decoded, other types as the wire sends them
        (the Store validates them into models, so an ISO string and a datetime both do)."""
        ...

    async def close(self) -> None: ...
