"""Named SQL statements loaded from `.sql` files beside this module (procrastinate's way).

A file holds blocks that start with `-- name: <name>`; the text up to the next such line is
the statement. Keeping SQL in `.sql` files lets it be read, linted and reviewed as SQL.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def queries(filename: str = "queries.sql") -> dict[str, str]:
    text = (Path(__file__).with_name(filename)).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def query(name: str) -> str:
    return queries()[name]
