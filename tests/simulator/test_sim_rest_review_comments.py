"""GET /repos/{o}/{r}/pulls/comments and .../pulls/comments/{id} as GitHub serves them
(docs.github.com/rest/pulls/comments): REST's fields, `since`, `sort`, `direction`,
`per_page` at most 100 with `Link` pages, ETag and a free 304, the `core` budget's headers;
quiet edits and deletions by `evolve` show there, and in `/_sim/truth?bodies=1`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from core.simulator import RepoSpec, SimConfig, Simulator

AUTH = {"authorization": "bearer simulator-token"}
LISTING = "/repos/o/rc/pulls/comments"


def fresh() -> Simulator:
    return Simulator(SimConfig(repos=[RepoSpec("o", "rc", 90)], seed=5))


def get(sim: Simulator, path: str, headers: dict[str, str] | None = None) -> Any:
    return sim.handle("GET", path, AUTH | (headers or {}), b"")


def every(sim: Simulator, query: str = "per_page=100") -> list[dict[str, Any]]:
    """The whole listing, page by page along rel="next"."""
    items: list[dict[str, Any]] = []
    path: str | None = f"{LISTING}?{query}"
    while path is not None:
        answer = get(sim, path)
        assert answer.status == 200
        items += json.loads(answer.body)
        link = answer.headers.get("link", "")
        nxt = [p for p in link.split(", ") if p.endswith('rel="next"')]
        path = None
        if nxt:
            url = urlsplit(nxt[0].split(">")[0].lstrip("<"))
            path = f"{url.path}?{url.query}"
    return items


def truth(sim: Simulator) -> dict[str, Any]:
    answer = sim.handle("GET", "/_sim/truth?repo=o/rc&bodies=1", {}, b"")
    return json.loads(answer.body)


def test_the_listing_has_githubs_fields_and_every_live_review_comment() -> None:
    sim = fresh()
    items = every(sim)
    now = truth(sim)
    threads = {t["id"]: t for pr in now["pull_requests"] for t in pr["review_threads"]}
    assert {i["node_id"] for i in items} == {c for t in threads.values() for c in t["comments"]}
    assert len(items) > 100  # more than one page
    for item in items:
        assert {
            "id", "node_id", "pull_request_review_id", "body", "path", "line", "original_line",
            "created_at", "updated_at", "html_url", "user", "pull_request_url", "url",
        } <= set(item)  # fmt: skip
        assert now["bodies"][item["node_id"]] == {
            "body": item["body"],
            "updatedAt": item["updated_at"],
        }
    ids = [i["id"] for i in items]
    assert ids == sorted(ids)  # without sort: ascending id, as GitHub documents
    by_id = {i["id"]: i for i in items}
    replies = [i for i in items if "in_reply_to_id" in i]
    assert replies and all(r["in_reply_to_id"] in by_id for r in replies)
    one = get(sim, f"{LISTING}/{items[0]['id']}")
    assert one.status == 200 and json.loads(one.body) == items[0]


def test_pages_etags_and_the_budget_headers() -> None:
    sim = fresh()
    first = get(sim, f"{LISTING}?per_page=500")
    assert len(json.loads(first.body)) == 100  # per_page is at most 100
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    assert first.headers["x-ratelimit-resource"] == "core"
    used = int(first.headers["x-ratelimit-used"])
    again = get(sim, f"{LISTING}?per_page=500", {"if-none-match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""
    assert int(again.headers["x-ratelimit-used"]) == used  # a 304 is free


def test_quiet_edits_and_deletions_show_in_the_listing_by_since_and_the_truth() -> None:
    sim = fresh()
    before = truth(sim)
    newest = max(i["updated_at"] for i in every(sim))
    report = sim.evolve("o/rc", edit_comments=3, delete_comments=2, seed=7)
    edited = report["review_comments_edited"]
    deleted = report["review_comments_deleted_quietly"]
    assert len(edited) == 3 and len(deleted) == 2
    after = truth(sim)
    assert [p["updatedAt"] for p in after["pull_requests"]] == [
        p["updatedAt"] for p in before["pull_requests"]
    ]  # touch_pr false: no PR moved
    # Only what changed since the newest update: the edits, oldest first with sort=updated.
    changed = every(sim, f"per_page=100&since={newest}&sort=updated&direction=asc")
    assert [i["node_id"] for i in changed if i["updated_at"] > newest] == edited
    for item in changed:
        assert after["bodies"][item["node_id"]]["body"] == item["body"]
    listed = {i["node_id"]: i for i in every(sim)}
    assert not set(deleted) & set(listed)
    assert set(before["bodies"]) - set(after["bodies"]) == set(deleted) | set(
        report["comments_deleted_quietly"]
    )
    threads = [t for pr in after["pull_requests"] for t in pr["review_threads"]]
    assert not {c for t in threads for c in t["comments"]} & set(deleted)
    assert all(t["comments"] for t in threads)  # a thread keeps its first comment
    gone = [i for i in every(fresh()) if i["node_id"] in deleted]  # as listed before
    assert len(gone) == 2
    for item in gone:
        assert get(sim, f"{LISTING}/{item['id']}").status == 404
    desc = every(sim, "per_page=100&sort=updated&direction=desc")
    assert desc[0]["node_id"] == edited[-1]
