"""The contributor key of an author GitHub sends without a node id (a type added later that is
not a Node): never one login for two accounts, and the same key each time the item is read."""

from __future__ import annotations

from typing import Any

from core.github.models import PullRequest


def _pr(node_id: str, number: int, author: dict[str, Any] | None) -> PullRequest:
    raw = {
        "id": node_id,
        "number": number,
        "state": "OPEN",
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-01-02T00:00:00Z",
        "author": author,
    }
    return PullRequest.from_graphql(raw, {})


def test_an_author_without_an_id_is_keyed_to_its_item_never_to_its_login() -> None:
    anonymous = {"__typename": "FutureActor", "login": "dup"}
    one, two = _pr("PR_a", 1, anonymous), _pr("PR_b", 2, anonymous)
    assert one.author is not None and two.author is not None
    assert one.author.github_id != two.author.github_id  # two items: maybe two accounts
    assert (one.author.login, one.author.type) == ("dup", "FutureActor")
    assert _pr("PR_a", 1, anonymous).author == one.author  # read again: the same contributor


def test_an_author_with_an_id_is_keyed_by_it_whatever_its_type() -> None:
    for typename in ("User", "Bot", "Mannequin", "EnterpriseUserAccount", "Organization"):
        pr = _pr("PR_c", 3, {"__typename": typename, "login": "dup", "id": f"{typename}_1"})
        assert pr.author is not None and pr.author.github_id == f"{typename}_1"
