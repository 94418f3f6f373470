"""Every document the client sends validates against GitHub's published schema and is priced
by the cost rule the way the page-size choice assumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from core.github.cost import estimate_cost, points_for
from core.github.queries import (
    COUNT_QUERY,
    DRY_RUN_QUERY,
    NESTED,
    NESTED_PER_PR,
    THREAD_COMMENTS,
    FollowUp,
    PageRequest,
    batch_query,
    batch_requests,
    best_page_size,
    fill_size,
)
from tests.support.github_schema import published_schema

SIM_SCHEMA = Path(__file__).resolve().parents[2] / "core" / "simulator" / "schema.graphql"


def all_documents() -> list[tuple[str, dict]]:
    page = PageRequest("octo", "big", 37, "Y3Vyc29yOjE=")
    follow = [FollowUp("PR_1", field, "c1") for field in NESTED]
    threads = [  # a thread's first page (the shared fragment) and a later one
        FollowUp("PR_1", THREAD_COMMENTS + "T_1", None, node_id="T_1"),
        FollowUp("PR_1", THREAD_COMMENTS + "T_2", "c2", node_id="T_2"),
        FollowUp("PR_1", THREAD_COMMENTS + "T_3", None, node_id="T_3"),
    ]
    return [
        (COUNT_QUERY, {"owner": "octo", "name": "big"}),
        (DRY_RUN_QUERY, {}),
        batch_query(page, []),
        batch_query(page, follow),
        batch_query(None, follow),
        batch_query(PageRequest("octo", "big", 5, None), []),
        batch_query(page, [*threads, *follow]),
        batch_query(None, threads[:1]),
    ]


@pytest.fixture(scope="session")
def github_schema() -> GraphQLSchema:
    return published_schema()


@pytest.mark.parametrize("index", range(len(all_documents())))
def test_documents_validate_against_published_schema(github_schema, index):
    document, _ = all_documents()[index]
    assert validate(github_schema, parse(document)) == []


@pytest.mark.parametrize("index", range(len(all_documents())))
def test_documents_validate_against_simulator_schema(index):
    schema = build_schema(SIM_SCHEMA.read_text())
    document, _ = all_documents()[index]
    assert validate(schema, parse(document)) == []


@pytest.mark.parametrize(("prs", "follow_ups"), [(1, 0), (37, 0), (36, 1), (20, 40), (0, 149)])
def test_batch_price_matches_the_shared_cost_rule(prs, follow_ups):
    page = PageRequest("o", "n", prs, None) if prs else None
    follows = [FollowUp(f"PR_{i}", "reviews", f"c{i}") for i in range(follow_ups)]
    document, variables = batch_query(page, follows)
    priced = estimate_cost(document, variables)
    assert priced.requests == batch_requests(prs, follow_ups)
    assert priced.cost == points_for(batch_requests(prs, follow_ups))


@pytest.mark.parametrize(("prs", "threads", "later"), [(29, 0, 0), (0, 149, 0), (10, 60, 38)])
def test_threads_cost_one_request_per_pr_and_one_per_thread(prs, threads, later):
    """GitHub's minimum for a PR's threads is one request for the list and one per thread for
    its comments: the page lists threads with nothing nested (a PR without threads costs
    the list alone, not a request per thread the page could list), and each thread's
    comments, first page or later, cost one request by the thread's id."""
    page = PageRequest("o", "n", prs, None) if prs else None
    follows = [
        FollowUp(
            "PR_1", f"{THREAD_COMMENTS}T_{i}", f"c{i}" if i < later else None, node_id=f"T_{i}"
        )
        for i in range(threads)
    ]
    document, variables = batch_query(page, follows)
    priced = estimate_cost(document, variables)
    assert priced.requests == (1 + NESTED_PER_PR * prs if prs else 0) + threads
    assert NESTED_PER_PR == 5  # commits, reviews, comments, labels, reviewThreads
    assert priced.requests == batch_requests(prs, sum(f.requests for f in follows))


def test_best_page_size_follows_the_rounding_sweet_spot():
    assert best_page_size(2) == 74  # 149 requests = 1 point; 100 PRs would cost 2
    assert best_page_size(0) == 100
    assert best_page_size(4) == 37
    assert best_page_size(2, max_page=20) == 20
    assert points_for(1 + 2 * 74) == 1 and points_for(1 + 2 * 75) == 2


def test_fill_size_never_pushes_a_batch_past_one_point():
    for follow_ups in range(0, 150):
        fresh = fill_size(follow_ups, 100)
        if fresh:
            assert points_for(batch_requests(fresh, follow_ups)) == 1
            assert points_for(batch_requests(fresh + 1, follow_ups)) > 1
    assert fill_size(0, 10) == 10
