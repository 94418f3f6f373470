"""POST /_sim/evolve and GET /_sim/truth: GitHub moves on, deterministically."""

from __future__ import annotations

import json
from typing import Any

from core.simulator import RepoSpec, SimConfig, Simulator


def call(sim: Simulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    response = sim.handle(method, path, {"content-type": "application/json"}, raw)
    return response.status, json.loads(response.body)


def fresh() -> Simulator:
    return Simulator(SimConfig(repos=[RepoSpec("o", "a", 120)], seed=9))


def test_evolve_changes_k_prs_adds_m_and_truth_shows_it() -> None:
    sim = fresh()
    status, before = call(sim, "GET", "/_sim/truth?repo=o/a")
    assert status == 200 and len(before["pull_requests"]) == 120
    status, report = call(
        sim, "POST", "/_sim/evolve", {"repo": "o/a", "changed": 12, "new": 3, "seed": 4}
    )
    assert status == 200 and len(report["changed"]) == 12 and len(report["new"]) == 3
    _, after = call(sim, "GET", "/_sim/truth?repo=o/a")
    old = {pr["number"]: pr for pr in before["pull_requests"]}
    new = {pr["number"]: pr for pr in after["pull_requests"]}
    assert set(new) - set(old) == set(report["new"])
    moved = {n for n in old if old[n] != new[n]}
    assert moved == set(report["changed"])
    assert all(new[n]["updatedAt"] > max(p["updatedAt"] for p in old.values()) for n in moved)
    deleted = sum(len(set(old[n]["comments"]) - set(new[n]["comments"])) for n in moved)
    assert deleted == report["comments_deleted"] > 0
    assert set(new[next(iter(moved))]) == {
        "number", "id", "state", "merged", "title", "updatedAt", "reviews", "comments", "labels",
        "review_threads",
    }  # fmt: skip


def test_same_seed_same_changes() -> None:
    one, two = fresh(), fresh()
    for sim in (one, two):
        call(sim, "POST", "/_sim/evolve", {"repo": "o/a", "changed": 10, "new": 2, "seed": 7})

    def strip(truth: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in pr.items() if k != "updatedAt"} for pr in truth["pull_requests"]]

    assert strip(one.truth("o/a")) == strip(two.truth("o/a"))
    other = fresh()
    call(other, "POST", "/_sim/evolve", {"repo": "o/a", "changed": 10, "new": 2, "seed": 8})
    assert strip(other.truth("o/a")) != strip(one.truth("o/a"))


def test_bad_requests_are_refused_plainly() -> None:
    sim = fresh()
    assert call(sim, "POST", "/_sim/evolve", {"repo": "o/zz", "changed": 1})[0] == 404
    assert call(sim, "POST", "/_sim/evolve", {"repo": "o/a", "changed": "x"})[0] == 400
    assert call(sim, "POST", "/_sim/evolve", {"repo": "o/a", "changed": 500})[0] == 400
    assert call(sim, "GET", "/_sim/truth?repo=o/zz")[0] == 404
    assert call(sim, "GET", "/_sim/evolve")[0] == 405


def test_quiet_comment_edits_and_deletions_leave_updated_at_unless_touch_pr() -> None:
    sim = Simulator(SimConfig(repos=[RepoSpec("o", "a", 80)], seed=2))
    before = call(sim, "GET", "/_sim/truth?repo=o/a&bodies=1")[1]
    asked = {"repo": "o/a", "edit_comments": 4, "delete_comments": 3, "touch_pr": False}
    status, report = call(sim, "POST", "/_sim/evolve", asked)
    assert status == 200
    after = call(sim, "GET", "/_sim/truth?repo=o/a&bodies=1")[1]
    assert [p["updatedAt"] for p in after["pull_requests"]] == [
        p["updatedAt"] for p in before["pull_requests"]
    ]
    edited, deleted = report["comments_edited"], report["comments_deleted_quietly"]
    assert len(edited) == 4 and len(deleted) == 3
    for node in edited:
        assert after["bodies"][node]["body"] != before["bodies"][node]["body"]
        assert after["bodies"][node]["updatedAt"] > before["bodies"][node]["updatedAt"]
    # K of the review comments too, their bodies and updatedAt in the truth by node id
    edited_inline = report["review_comments_edited"]
    deleted_inline = report["review_comments_deleted_quietly"]
    assert len(edited_inline) == 4 and len(deleted_inline) == 3
    for node in edited_inline:
        assert node.startswith("PRRC_")
        assert after["bodies"][node]["body"] != before["bodies"][node]["body"]
        assert after["bodies"][node]["updatedAt"] > before["bodies"][node]["updatedAt"]
    assert set(before["bodies"]) - set(after["bodies"]) == set(deleted) | set(deleted_inline)
    assert "bodies" not in call(sim, "GET", "/_sim/truth?repo=o/a")[1]

    call(sim, "POST", "/_sim/evolve", asked | {"touch_pr": True, "seed": 1})
    moved = call(sim, "GET", "/_sim/truth?repo=o/a")[1]["pull_requests"]
    assert (
        sum(
            a["updatedAt"] != b["updatedAt"]
            for a, b in zip(moved, after["pull_requests"], strict=True)
        )
        >= 4
    )
    assert call(sim, "POST", "/_sim/evolve", asked | {"touch_pr": 1})[0] == 400
