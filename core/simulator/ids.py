"""Opaque ids and cursors in GitHub's style, decodable by the simulator alone.

Node ids look like GitHub's (`PR_kwDO...`, `PRR_kwDO...`, `IC_kwDO...`) and carry the repository
slot and item index, so `node(id:)` needs no lookup table. Cursors are base64 of
`cursor:v2:...` like GitHub's (`Y3Vyc29yOnYy...`) and hold the sort key *and* the item, so a saved
cursor resumes exactly even after new items appear (keyset, not offset, pagination).
"""

from __future__ import annotations

import base64
import binascii
import struct

KINDS = {
    "pr": (1, "PR_kwDO"),
    "review": (2, "PRR_kwDO"),
    "comment": (3, "IC_kwDO"),
    "issue": (4, "I_kwDO"),
    "user": (5, "U_kgDO"),
    "bot": (6, "BOT_kgDO"),
    "label": (7, "LA_kwDO"),
    "repo": (8, "R_kgDO"),
    "mannequin": (9, "M_kgDO"),
    "enterprise_user": (10, "EUA_kgDO"),
    "org": (11, "O_kgDO"),
    "thread": (12, "PRRT_kwDO"),  # (PR index, thread index)
    "review_comment": (13, "PRRC_kwDO"),  # (PR index, thread index * COMMENT_SPAN + position)
}
# A review comment's second number: its thread's index times this, plus its position in it.
COMMENT_SPAN = 4096
# Accounts (GitHub's Actors): not inside a repository, visible to every token.
ACCOUNT_KINDS = ("user", "bot", "mannequin", "enterprise_user", "org")
_BY_CODE = {code: kind for kind, (code, _) in KINDS.items()}
_ID = struct.Struct(">BHII")
_CURSOR_PREFIX = "cursor:v2:"


def node_id(kind: str, slot: int, a: int, b: int = 0) -> str:
    code, prefix = KINDS[kind]
    raw = _ID.pack(code, slot, a, b)
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_node_id(text: str) -> tuple[str, int, int, int] | None:
    """(kind, slot, a, b) for an id this simulator minted, else None."""
    _, sep, payload = text.partition("_")
    if not sep or len(payload) < 4:
        return None
    payload = payload[4:]  # after "kwDO" / "kgDO"
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        code, slot, a, b = _ID.unpack(raw)
    except (binascii.Error, struct.error, ValueError):
        return None
    kind = _BY_CODE.get(code)
    if kind is None or not text.startswith(KINDS[kind][1]):
        return None
    return kind, slot, a, b


def encode_cursor(scope: str, key: int, index: int) -> str:
    raw = f"{_CURSOR_PREFIX}{scope}:{key}:{index}".encode()
    return base64.b64encode(raw).decode()


def decode_cursor(text: str, scope: str) -> tuple[int, int] | None:
    """(key, index) of a cursor minted for `scope`, else None (GitHub: invalid cursor)."""
    try:
        raw = base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not raw.startswith(_CURSOR_PREFIX):
        return None
    parts = raw[len(_CURSOR_PREFIX) :].rsplit(":", 2)
    if len(parts) != 3 or parts[0] != scope:
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None
