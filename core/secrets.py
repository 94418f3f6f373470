"""Naming a secret without revealing it."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr


def fingerprint(secret: str | SecretStr) -> str:
    """A short, stable, one-way name for a token: safe to store, log and show."""
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:12]
