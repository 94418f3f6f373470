"""Repository names as users type them, checked before anything is written or sent."""

from __future__ import annotations

import re

from core.errors import ConfigError

# The same rules as the CHECK constraints on `repositories` (GitHub's, with the underscores
# GitHub Enterprise allows in user names).
_OWNER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,38}$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class InvalidRepositoryName(ConfigError):
    """Not an OWNER/NAME; a usage error (exit 2)."""


def parse_repository(text: str) -> tuple[str, str]:
    value = text.strip()
    parts = value.split("/")
    if len(parts) != 2:
        raise InvalidRepositoryName(f"{value!r} is not a repository: expected OWNER/NAME")
    owner, name = parts
    if not _OWNER.match(owner):
        raise InvalidRepositoryName(
            f"{value!r}: {owner!r} is not a valid GitHub owner (letters, digits, '-', '_')"
        )
    if not _NAME.match(name) or name in (".", ".."):
        raise InvalidRepositoryName(
            f"{value!r}: {name!r} is not a valid repository name (letters, digits, '.', '-', '_')"
        )
    return owner, name


def parse_repositories(texts: list[str]) -> list[tuple[str, str]]:
    """All names, or an error naming the first bad one (so nothing is written for any)."""
    if not texts:
        raise InvalidRepositoryName("no repositories given: expected OWNER/NAME ...")
    seen: dict[str, tuple[str, str]] = {}
    for text in texts:
        owner, name = parse_repository(text)
        seen.setdefault(f"{owner}/{name}".lower(), (owner, name))
    return list(seen.values())
