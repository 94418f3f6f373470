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

from pydantic_core import PydanticSerializationError, to_json, to_jsonable_python

from core.storable import storable_tree

# NULs survive the encoder as the escape `\u0000`, which jsonb refuses: each one (not itself
# preceded by an escaping backslash) becomes U+FFFD in the encoded bytes, the cheap path.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


@dataclass(frozen=True, slots=True)
class Json:
    """JSON text for a `jsonb` parameter, and how many characters the store cannot hold
    (core.storable: U+0000, lone surrogates) were replaced to make it storable.

    Encoded once, in Rust (`pydantic_core.to_json`, models included): json.dumps of model
    dumps was a quarter of a worker's CPU. A lone surrogate makes that encoder refuse the
    whole value; only then is it walked, every string made storable, and encoded again.
    """

    text: str
    replaced: int = 0

    @classmethod
    def encode(cls, value: Any) -> Json:
        replaced = 0
        try:
            data = to_json(value, fallback=str)
        except PydanticSerializationError:  # a lone surrogate somewhere (UTF-8 cannot hold it)
            tree, replaced = storable_tree(to_jsonable_python(value, fallback=str))
            data = to_json(tree)
        if b"\\u0000" in data:
            data, nuls = _ESCAPED_NUL.subn(rb"\1\\ufffd", data)
            replaced += nuls
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
