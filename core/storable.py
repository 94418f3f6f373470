"""Text the store cannot hold, made storable: the one rule for every text the store is sent.

Two kinds of character cannot reach the database whatever field they are in: U+0000 (Postgres
text cannot hold it, jsonb refuses its escape) and a lone surrogate (U+D800..U+DFFF without its
pair: JSON's `"\\ud800"` escape carries one, as does a client that cut an emoji in half, or an
answer with bytes that are not UTF-8; no UTF-8 encoder - pydantic's, psycopg's, httpx's -
can write it). One such character in one comment used to sink its whole page. Each becomes
U+FFFD, the replacement character, and is counted, so the commit's result and the event log
say how many were replaced; the rest of the text is stored as GitHub sent it.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# U+0000 and every surrogate code point: a str decoded from JSON holds a surrogate only when
# it was alone (a valid escaped pair decodes to one astral character).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> tuple[str, int]:
    """`text` with each character the store cannot hold replaced by U+FFFD, and how many."""
    return UNSTORABLE.subn(REPLACEMENT, text)


def storable_text(text: str) -> str:
    """`storable` without the count: for messages (GitHub's words in a refusal, an error)."""
    return UNSTORABLE.sub(REPLACEMENT, text)


def storable_tree(value: Any) -> tuple[Any, int]:
    """A JSON-able value (dicts, lists, scalars) with every string in it made storable, keys
    included, and how many characters were replaced in all."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list | tuple):
        out, total = [], 0
        for item in value:
            item, n = storable_tree(item)
            out.append(item)
            total += n
        return out, total
    if isinstance(value, dict):
        result, total = {}, 0
        for key, item in value.items():
            key, k = storable_tree(key) if isinstance(key, str) else (key, 0)
            item, n = storable_tree(item)
            result[key] = item
            total += k + n
        return result, total
    return value, 0
