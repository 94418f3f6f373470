"""A proxy in front of the simulator that puts chosen text into chosen PRs' fields.

What a hostile real world sends: the simulator answers as GitHub does, and this proxy then
writes `Injection`s into every answer that carries a targeted PR - listed in a page, in a
follow-up page of its reviews, comments or labels, or asked for again alone - and sends the
answer on as JSON carries it (json.dumps escapes a lone surrogate as `\\ud800`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from core.simulator import Simulator
from core.simulator.item_faults import Slot, pr_number_of, pr_slots

# Where each field's text is in a PR node: (nested list or None, path inside the node).
FIELDS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "title": (None, ("title",)),
    "body": (None, ("body",)),
    "state": (None, ("state",)),
    "baseRefName": (None, ("baseRefName",)),
    "headRefName": (None, ("headRefName",)),
    "url": (None, ("url",)),
    "id": (None, ("id",)),
    "author.login": (None, ("author", "login")),
    "author.__typename": (None, ("author", "__typename")),
    "author.avatarUrl": (None, ("author", "avatarUrl")),
    "review.body": ("reviews", ("body",)),
    "review.state": ("reviews", ("state",)),
    "review.url": ("reviews", ("url",)),
    "review.author.login": ("reviews", ("author", "login")),
    "comment.body": ("comments", ("body",)),
    "comment.url": ("comments", ("url",)),
    "comment.author.login": ("comments", ("author", "login")),
    "label.name": ("labels", ("name",)),
}
PLACES = ("replace", "prefix", "suffix", "middle")
# Where an injected text holds this, the answer carries bytes that are not UTF-8 instead: an
# overlong encoding of U+0000 (C0 80), as a broken proxy or a cut character leaves them.
NOT_UTF8 = "\u2063not-utf-8\u2063"
_NOT_UTF8_SENT = json.dumps(NOT_UTF8)[1:-1].encode()


@dataclass(frozen=True)
class Injection:
    """`text` put into `field` of PR `number` (at `place`; an id only ever gets a suffix, so
    two PRs never share one), in every answer that carries it."""

    number: int
    field: str
    text: str
    place: str = "middle"

    def apply(self, slot: Slot) -> None:
        node = slot.node
        if not isinstance(node, dict):
            return
        nested, path = FIELDS[self.field]
        if nested is None:
            if not slot.whole:
                return  # a follow-up answer carries one nested list only
            holders = [node]
        else:
            conn = node.get(nested)
            items = conn.get("nodes") if isinstance(conn, dict) else None
            holders = [i for i in (items or [])[:1] if isinstance(i, dict)]
        for holder in holders:
            for key in path[:-1]:
                holder = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(holder, dict) and isinstance(holder.get(path[-1]), str):
                holder[path[-1]] = self.mixed(holder[path[-1]])

    def mixed(self, old: str) -> str:
        place = "suffix" if self.field == "id" else self.place
        if place == "replace":
            return self.text
        if place == "prefix":
            return self.text + old
        if place == "suffix":
            return old + self.text
        middle = len(old) // 2
        return old[:middle] + self.text + old[middle:]


class HostileProxy(httpx.AsyncBaseTransport):
    """The simulator's in-process transport, its GraphQL answers rewritten by `injections`."""

    def __init__(self, sim: Simulator, injections: Sequence[Injection] = ()) -> None:
        self.sim = sim
        self.inner = sim.transport()
        self.injections = list(injections)
        self.number_of = pr_number_of(sim.world)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.injections or not request.url.path.endswith("/graphql"):
            return response
        body = await response.aread()
        try:
            payload = json.loads(body)
            variables = json.loads(request.content or b"{}").get("variables") or {}
        except ValueError:
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(data, dict):
            for slot in list(pr_slots(data, variables, self.number_of)):
                for injection in self.injections:
                    if injection.number == slot.number:
                        injection.apply(slot)
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding")
        }
        return httpx.Response(response.status_code, headers=headers, content=_dump(payload))


def _dump(payload: Any) -> bytes:
    sent = json.dumps(payload, separators=(",", ":")).encode()
    return sent.replace(_NOT_UTF8_SENT, b"\xc0\x80")
