"""The catch-up's request, `GET .../{issues|pulls}/comments?since=W&sort=updated&direction=asc`,
made conditional as GitHub answers it (docs.github.com/rest/using-the-rest-api/
best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate): its ETag
asked again is a 304 with no body that `/_sim/stats` does not charge to the token's REST
budget; a change in the listing, or another token (GitHub's ETags are token specific), is a
200 that is charged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.simulator import RepoSpec, SimConfig, Simulator

TOKEN = {"authorization": "bearer simulator-token"}
OTHER = {"authorization": "bearer another-token"}


def get(sim: Simulator, path: str, headers: dict[str, str]) -> Any:
    return sim.handle("GET", path, headers, b"")


def stats(sim: Simulator) -> dict[str, Any]:
    rest: dict[str, Any] = json.loads(sim.handle("GET", "/_sim/stats", {}, b"").body)["rest"]
    return rest


def charged(sim: Simulator) -> int:
    return sum(stats(sim)["used"].values())


@pytest.mark.parametrize("listing", ["issues", "pulls"])
def test_a_listing_by_since_is_answered_304_free_until_it_changes(listing: str) -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "rc", 60)], seed=5))
    newest = max(
        b["updatedAt"] for b in sim.truth("o/rc", bodies=True)["bodies"].values()
    )  # the watermark after a catch-up: a short page, as the catch-up keeps its ETag for
    url = f"/repos/o/rc/{listing}/comments?per_page=100&since={newest}&sort=updated&direction=asc"
    first = get(sim, url, TOKEN)
    assert first.status == 200
    etag = first.headers["etag"]
    used = charged(sim)

    again = get(sim, url, TOKEN | {"if-none-match": etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == etag
    assert charged(sim) == used  # GitHub does not count a 304
    assert stats(sim)["not_modified"] == 1

    # GitHub's ETags are specific to the token: another one's request is a full answer.
    other = get(sim, url, OTHER | {"if-none-match": etag})
    assert other.status == 200 and other.headers["etag"] != etag

    sim.evolve("o/rc", edit_comments=2, seed=3)  # touch_pr false: the listing changes
    changed = get(sim, url, TOKEN | {"if-none-match": etag})
    assert changed.status == 200 and changed.headers["etag"] != etag
    assert charged(sim) == used + 2
