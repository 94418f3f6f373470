"""Naming a secret without revealing it."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr


def fingerprint(secret: str | SecretStr) -> str:
    """A short, stable, one-way name for a token: safe to store, log and show."""
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:12]


# --- passwords in connection URLs -------------------------------------------------------------

_DELIMITERS = "@:/?#&=,; \t"
_MIN_FRAGMENT = 3  # a shorter piece of a password is indistinguishable from ordinary text
MASK = "***"


def password_candidates(url: str) -> set[str]:
    """Every string that may be (part of) the password in `url`, however malformed it is.

    libpq splits `user:pa@ss@host` at the first `@` (password `pa`, host `ss@host`) and then
    echoes the host, so the password's tail can surface in its messages; a `:` or `/` in an
    unencoded password moves the split elsewhere. So: the whole span from the first `:` of the
    userinfo to the last `@` is the secret, and so is every piece of it cut at a delimiter.
    """
    text = url.strip()
    found: set[str] = set()
    # key=value conninfo: password=secret or password='se cret'
    for match in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", text, re.IGNORECASE):
        value = match.group(1)
        found.add(value.strip("'"))
    # URL query parameter ?password=...
    for match in re.finditer(r"[?&]password=([^&#]*)", text, re.IGNORECASE):
        found.add(match.group(1))
    rest = text.split("://", 1)[1] if "://" in text else text
    at = rest.rfind("@")
    if at > 0:
        userinfo = rest[:at]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    candidates: set[str] = set()
    for secret in found:
        for variant in {secret, unquote(secret)}:
            if not variant:
                continue
            candidates.add(variant)
            candidates.update(_fragments(variant))
    return candidates


def _fragments(secret: str) -> set[str]:
    pieces: set[str] = set()
    cuts = [i for i, c in enumerate(secret) if c in _DELIMITERS]
    for i in cuts:
        pieces.add(secret[:i])
        pieces.add(secret[i + 1 :])
    pieces.update(re.split("[" + re.escape(_DELIMITERS) + "]", secret))
    return {p for p in pieces if len(p) >= _MIN_FRAGMENT}


def _short_fragments(url: str) -> set[str]:
    """Pieces too short to mask everywhere: masked only where libpq echoes them, next to a
    delimiter of the URL (`x@host`, `:x@`)."""
    rest = url.strip().split("://", 1)[-1]
    at = rest.rfind("@")
    if at <= 0 or ":" not in rest[:at]:
        return set()
    secret = rest[:at].split(":", 1)[1]
    pieces = set(re.split("[" + re.escape(_DELIMITERS) + "]", secret))
    return {p for p in pieces if 0 < len(p) < _MIN_FRAGMENT}


def redact_password(message: str, url: str) -> str:
    """`message` with every trace of `url`'s password replaced by ***."""
    for secret in sorted(password_candidates(url), key=len, reverse=True):
        message = message.replace(secret, MASK)
    for piece in _short_fragments(url):
        message = re.sub(
            rf"(?:(?<=[{re.escape(_DELIMITERS)}'\"])|^){re.escape(piece)}(?=@)", MASK, message
        )
    return message


# --- where tokens may go -----------------------------------------------------------------------


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_url_problem(url: str, setting: str, secret_name: str) -> str | None:
    """Why `url` may not receive `secret_name`, or None: https only (loopback may use http,
    for the simulator and local stacks), and no user:password@ part."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return f"{setting} is not a valid URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (
            f"{setting} must not contain user:password@ (it would be sent as Basic auth "
            f"beside {secret_name}): remove that part"
        )
    if not host:
        return f"{setting} is not a valid URL (no host)"
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return None
    if parts.scheme == "http":
        return (
            f"{setting} uses plain http:// to {host}: {secret_name} would travel unencrypted; "
            "use https:// (http is allowed only to localhost)"
        )
    return f"{setting} must be an https:// URL"
