"""RepoBuffer.add_page (core/github/pager.py): the smallest bad unit of a page is refused.

An edge that is itself null is one PR refused alone (keyed from the cursor before it), a PR
listed twice in one page is kept once, and only a page whose own structure is wrong (edges
not a list, an error located at an edge the page does not have) fails as a whole.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.github.outcomes import Action, decide, item_of
from core.github.pager import AnswerProblem, RepoBuffer


def node(n: int) -> dict[str, Any]:
    empty = {"nodes": [], "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}}
    return {
        "id": f"PR_{n}",
        "number": n,
        "title": f"t{n}",
        "body": "",
        "state": "OPEN",
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-02T00:00:00Z",
        "author": None,
        "reviews": dict(empty),
        "comments": dict(empty),
        "labels": dict(empty),
        "reviewThreads": dict(empty),
    }


def page(*edges: Any, more: bool = False) -> dict[str, Any]:
    last = next((e["cursor"] for e in reversed(edges) if isinstance(e, dict)), None)
    return {
        "totalCount": len(edges),
        "pageInfo": {"hasNextPage": more, "endCursor": last},
        "edges": list(edges),
    }


def edge(n: int) -> dict[str, Any]:
    return {"cursor": f"c{n}", "node": node(n)}


def test_a_null_edge_is_one_pr_refused_keyed_by_the_cursor_before_it() -> None:
    buffer = RepoBuffer("c0", order="CREATED_AT ASC")
    buffer.add_page(page(edge(1), None, None, edge(4)), after="c0", item_errors={2: "FORBIDDEN"})
    prs, refused, cursor = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [1, 4] and cursor == "c4"
    assert [r.github_id for r in refused] == ["cursor:c1+1", "cursor:c1+2"]
    # Each PR carries its place, keyed as a null edge there would be (PR 4: 3rd after c1).
    assert [p.position_key for p in prs] == ["cursor:c0+1", "cursor:c1+3"]
    assert "a null edge" in refused[0].reason and "FORBIDDEN" in refused[1].reason
    assert [r.position_cursor for r in refused] == ["c1", "c1"]
    assert refused[0].position_order == "CREATED_AT ASC"


def test_an_edge_that_is_no_object_is_refused_like_a_null_one() -> None:
    buffer = RepoBuffer(None)
    buffer.add_page(page(edge(1), "x", [edge(3)], edge(4)))
    prs, refused, _ = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [1, 4]
    assert [r.github_id for r in refused] == ["cursor:c1+1", "cursor:c1+2"]
    assert "str, not an object" in refused[0].reason


def test_a_pr_twice_in_one_page_is_kept_once() -> None:
    buffer = RepoBuffer(None)
    buffer.add_page(page(edge(1), edge(2), edge(3), edge(2)))
    prs, refused, cursor = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [1, 2, 3] and refused == [] and cursor == "c3"


def test_a_pr_delivered_before_is_still_no_progress() -> None:
    buffer = RepoBuffer(None)
    buffer.add_page(page(edge(1), edge(2), more=True))
    buffer.take(2)
    with pytest.raises(AnswerProblem, match="repeats"):
        buffer.add_page(page(edge(2), edge(3)), after="c2")


@pytest.mark.parametrize(
    "connection",
    [
        {"totalCount": 2, "pageInfo": {"hasNextPage": True, "endCursor": "c2"}, "nodes": []},
        {"totalCount": 2, "pageInfo": {}, "edges": None},
        {"totalCount": 2, "pageInfo": {}, "edges": {"0": edge(1)}},
    ],
)
def test_a_pr_list_without_its_edges_fails_the_page(connection: dict[str, Any]) -> None:
    """`nodes` instead of `edges`, or null edges: no PR of it can be placed, so no PR is
    silently skipped by moving the cursor past them."""
    with pytest.raises(AnswerProblem, match="not the shape"):
        RepoBuffer(None).add_page(connection)


def test_an_error_at_an_edge_the_page_does_not_have_fails_the_page() -> None:
    with pytest.raises(AnswerProblem, match="edge 5"):
        RepoBuffer(None).add_page(page(edge(1), edge(2)), item_errors={5: "FORBIDDEN"})


def test_an_edge_index_given_as_a_string_is_read_as_the_index() -> None:
    assert item_of(["repository", "pullRequests", "edges", "7", "node", "commits"]) == 7
    assert item_of(["repository", "pullRequests", "edges", "x7"]) is None
    assert item_of(["repository", "pullRequests", "edges", -1]) is None
    assert item_of(["repository", "pullRequests", "edges", 3]) == 3  # at the edge itself


FORBIDDEN = {"type": "FORBIDDEN", "message": "Resource not accessible by integration"}


def _answer(data: object, *errors: dict[str, Any]) -> bytes:
    import json

    return json.dumps({"data": data, "errors": list(errors)}).encode()


@pytest.mark.parametrize(
    "path",
    [None, ["repository", "pullRequests"], ["viewer"], ["repository", "pullRequests", "edges"]],
)
def test_an_error_beside_data_located_at_no_pr_fails_the_chunk(path: list[Any] | None) -> None:
    """Only an error located at the repository itself refuses the repository."""
    error = dict(FORBIDDEN, path=path) if path is not None else FORBIDDEN
    data = {"repository": {"pullRequests": {"edges": []}}}
    outcome = decide(200, {}, _answer(data, error))
    assert outcome.action is Action.FAIL_CHUNK
    assert "Resource not accessible by integration" in outcome.reason


def test_an_error_at_the_repository_refuses_the_repository() -> None:
    at_repo = dict(FORBIDDEN, path=["repository"])
    assert decide(200, {}, _answer({"repository": None}, at_repo)).action is Action.FAIL_BACKFILL
    gone = {"type": "NOT_FOUND", "path": ["repository"], "message": "Could not resolve"}
    assert decide(200, {}, _answer({"repository": None}, gone)).action is Action.FAIL_BACKFILL
    deeper = dict(gone, path=["repository", "pullRequests"])
    assert decide(200, {}, _answer({"repository": None}, deeper)).action is Action.FAIL_CHUNK


@pytest.mark.parametrize(
    ("name", "conn"),
    [
        ("reviews", None),
        ("comments", {"edges": [], "totalCount": 0, "pageInfo": {"hasNextPage": False}}),
        ("labels", {"nodes": [{"name": "a"}], "totalCount": 2, "pageInfo": {}}),
    ],
)
def test_a_nested_list_null_without_nodes_or_short_refuses_that_pr_alone(
    name: str, conn: Any
) -> None:
    bad = node(2)
    bad[name] = conn
    buffer = RepoBuffer(None)
    buffer.add_page(page(edge(1), {"cursor": "c2", "node": bad}, edge(3)))
    prs, refused, cursor = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [1, 3] and cursor == "c3"
    assert [(r.github_id, r.number) for r in refused] == [("PR_2", 2)]
    assert name in refused[0].reason


def test_the_kth_null_edge_is_asked_for_again_as_the_kth_pr_after_its_cursor() -> None:
    """Two null edges after c1: the second's retry asks for 2 PRs after c1 and reads the
    2nd, never the 1st (which would clear its failure with another PR's data)."""
    from core.github.models import RefusedPullRequest
    from core.github.queries import batch_query, retry_alias

    buffer = RepoBuffer("c0", order="CREATED_AT ASC")
    buffer.add_page(page(edge(1), None, None, edge(4)), after="c0")
    _, refused, _ = buffer.take(buffer.complete_prefix())
    second: RefusedPullRequest = refused[1]
    retry = type(
        "Retry",
        (),
        {
            "github_id": second.github_id,
            "node_id": None,
            "number": None,
            "position_cursor": second.position_cursor,
            "position_order": second.position_order,
        },
    )()
    query, _ = batch_query(None, [], [retry], repository=("o", "r"))
    assert "pullRequests(first: 2," in query
    answer = {"pullRequests": {"edges": [edge(2), edge(3)]}}
    buffer.apply_retry(retry, answer, None)
    prs, refused_again, _ = buffer.take(1)
    assert [p.number for p in prs] == [3] and refused_again == []
    assert prs[0].retry_of == "cursor:c1+2" and retry_alias(0, retry) == "p0"


def thread_comments(ids: list[str], more: str | None = None) -> dict[str, Any]:
    return {
        "totalCount": len(ids) + (1 if more else 0),
        "pageInfo": {"hasNextPage": more is not None, "endCursor": more},
        "nodes": [{"id": i, "createdAt": "2024-01-01T00:00:00Z"} for i in ids],
    }


def with_threads(n: int, *threads: str) -> dict[str, Any]:
    raw = node(n)
    raw["reviewThreads"] = {
        "nodes": [{"id": t, "path": "a.py", "isResolved": False} for t in threads],
        "totalCount": len(threads),
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    return {"cursor": f"c{n}", "node": raw}


def test_each_listed_thread_has_its_comments_asked_by_its_id_and_a_pr_without_none() -> None:
    """Threads come in the page without comments (a request per thread the page could list
    otherwise): each thread's comments are one follow-up by the thread's id, its first page
    included, and the PR is handed out only when every thread's comments are in; a PR
    without threads needs nothing more."""
    buffer = RepoBuffer(None)
    buffer.add_page(page(edge(1), with_threads(2, "T_a", "T_b")))
    assert buffer.complete_prefix() == 1  # PR 1 (no threads) is complete as listed
    asked = buffer.follow_ups(148)
    assert [(f.pr_id, f.node_id, f.after, f.requests) for f in asked] == [
        ("PR_2", "T_a", None, 1),
        ("PR_2", "T_b", None, 1),
    ]
    buffer.apply_follow_up(asked[0], {"comments": thread_comments(["C_1"], more="k1")})
    buffer.apply_follow_up(asked[1], {"comments": thread_comments(["C_2"])})
    assert buffer.complete_prefix() == 1  # T_a has a second page still
    (later,) = buffer.follow_ups(148)
    assert (later.node_id, later.after) == ("T_a", "k1")
    buffer.apply_follow_up(later, {"comments": thread_comments(["C_3"])})
    prs, refused, _ = buffer.take(buffer.complete_prefix())
    assert refused == [] and prs[0].review_threads == []
    threads = prs[1].review_threads or []
    assert [(t.github_id, [c.github_id for c in t.comments]) for t in threads] == [
        ("T_a", ["C_1", "C_3"]),
        ("T_b", ["C_2"]),
    ]


def test_follow_ups_beside_a_page_come_in_repeatable_counts_oldest_first_same_text() -> None:
    """Beside a page (its spare requests new PRs fill) the follow-ups are a count of
    REPEATABLE_COUNTS, the oldest PRs' first (the rest waits a query, the points are the
    same); alone they are all asked. Grouped by kind, the same counts make the same text
    whichever threads they are, so a server parses and validates it once."""
    from core.github.pager import REPEATABLE_COUNTS
    from core.github.queries import batch_query

    def buffer_of(prefix: str) -> RepoBuffer:
        buffer = RepoBuffer(None)
        threads = [f"{prefix}{i}" for i in range(7)]
        buffer.add_page(page(with_threads(1, *threads[:3]), with_threads(2, *threads[3:])))
        return buffer

    one = buffer_of("T_")
    assert len(one.follow_ups(148)) == 7
    beside = one.follow_ups(148, repeatable=True)
    assert len(beside) == max(c for c in REPEATABLE_COUNTS if c <= 7) == 6
    assert [f.node_id for f in beside][:3] == ["T_0", "T_1", "T_2"]  # PR 1's, the oldest
    other = buffer_of("U_").follow_ups(148, repeatable=True)
    text, variables = batch_query(None, beside, repository=("o", "n"))
    assert batch_query(None, other, repository=("o", "n"))[0] == text
    assert variables["id0"] == "T_0"


def test_a_thread_gone_before_its_comments_are_asked_refuses_its_pr_alone() -> None:
    buffer = RepoBuffer(None)
    buffer.add_page(page(with_threads(1, "T_a"), edge(2)))
    (asked,) = buffer.follow_ups(148)
    buffer.apply_follow_up(asked, None)  # GitHub: null (deleted since it was listed)
    prs, refused, cursor = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [2] and cursor == "c2"
    assert [r.github_id for r in refused] == ["PR_1"] and "deleted" in refused[0].reason


@pytest.mark.parametrize("order", ["CREATED_AT ASC", "UPDATED_AT DESC"])
def test_a_null_edge_at_a_walks_start_is_refused_alone_and_asked_for_again_in_its_order(
    order: str,
) -> None:
    """No cursor before it (the walk's first PR): keyed by its walk's order, so a backfill's
    first place and a sync's are two places; its retry asks for the 1st PR from the start in
    that order (after: null) and stores it."""
    from core.github.queries import batch_query, position_rank

    buffer = RepoBuffer(None, order=order)
    buffer.add_page(page(None, edge(2), edge(3)))
    prs, refused, cursor = buffer.take(buffer.complete_prefix())
    assert [p.number for p in prs] == [2, 3] and cursor == "c3"
    [first] = refused
    assert first.github_id == f"cursor:start of {order}+1" and "a null edge" in first.reason
    assert (first.position_cursor, first.position_order) == (None, order)
    # PR 2 sits 2nd from the start: the place a null edge there would have been keyed by.
    assert [p.position_key for p in prs] == [f"cursor:start of {order}+2", "cursor:c2+1"]

    retry = type("Retry", (), {**first.model_dump(), "node_id": None})()
    assert position_rank(retry) == 1
    query, variables = batch_query(None, [], [retry], repository=("o", "r"))
    field, direction = order.split()
    assert f"pullRequests(first: 1, after: $p0, orderBy: {{field: {field}, " in query
    assert f"direction: {direction}}}" in query and variables["p0"] is None
    again = RepoBuffer("c3", order=order)
    again.apply_retry(retry, {"pullRequests": {"edges": [edge(1)]}}, None)
    stored, refused_again, after = again.take(1)
    assert [p.number for p in stored] == [1] and refused_again == [] and after == "c3"
    assert stored[0].retry_of == f"cursor:start of {order}+1"


def test_the_kth_null_edge_at_a_walks_start_is_the_kth_pr_and_old_keys_still_read() -> None:
    """Two null edges first: `+1` and `+2` from the start, each asked for as itself; a key an
    older version wrote for the start (`cursor:+2`) is read as the same place."""
    from core.github.queries import position_rank

    buffer = RepoBuffer(None, order="UPDATED_AT DESC")
    buffer.add_page(page(None, None, edge(3)))
    _, refused, _ = buffer.take(buffer.complete_prefix())
    ranks = [position_rank(type("R", (), r.model_dump())()) for r in refused]
    assert [r.github_id for r in refused] == [
        "cursor:start of UPDATED_AT DESC+1",
        "cursor:start of UPDATED_AT DESC+2",
    ]
    assert ranks == [1, 2]
    old = {"github_id": "cursor:+2", "position_cursor": None, "position_order": None}
    assert position_rank(type("R", (), old)()) == 2
