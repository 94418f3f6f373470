"""GitHub's cost rule (core.github.cost) against GitHub's published examples."""

from __future__ import annotations

import pytest

from core.github.cost import QueryCost, estimate_cost, node_limit_connection, points_for

PR_PAGE = """
query($owner: String!, $name: String!, $n: Int!, $m: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: $n) { nodes { number %s } }
  }
}
"""


def test_githubs_worked_example_is_5101_requests_51_points() -> None:
    query = """{ viewer { repositories(first: 100) { edges { node {
        issues(first: 50) { edges { node { labels(first: 60) { edges { node { name } } } } } }
    } } } } }"""
    assert estimate_cost(query) == QueryCost(requests=5101, cost=51, node_count=305_100)


@pytest.mark.parametrize(
    ("n", "nested", "requests", "points"),
    [
        (100, "", 1, 1),  # 100 PRs, scalars only
        (100, "reviews(first: $m) { nodes { id } } comments(first: $m) { nodes { id } }", 201, 2),
        (74, "reviews(first: $m) { nodes { id } } comments(first: $m) { nodes { id } }", 149, 1),
        (100, "reviews(first: $m) { nodes { comments(first: $m) { nodes { id } } } }", 10_101, 101),
    ],
)
def test_the_cases_in_the_notes(n: int, nested: str, requests: int, points: int) -> None:
    cost = estimate_cost(PR_PAGE % nested, {"owner": "o", "name": "n", "n": n, "m": 100})
    assert (cost.requests, cost.cost) == (requests, points)


def test_comments_nested_in_reviews_costs_102_points_with_a_sibling_connection() -> None:
    """The notes' 100 x 100 = 10,000 (+ the PR page and reviews) -> 102 points."""
    query = """{ repository(owner: "o", name: "n") { pullRequests(first: 100) { nodes {
        reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } }
        labels(first: 100) { nodes { name } } } } } }"""
    assert estimate_cost(query).cost == 102  # 1 + 100 + 100 + 10,000 = 10,201


def test_nested_page_size_does_not_change_cost_only_its_children() -> None:
    a = estimate_cost(PR_PAGE % "reviews(first: $m) { nodes { id } }", {"n": 100, "m": 1})
    b = estimate_cost(PR_PAGE % "reviews(first: $m) { nodes { id } }", {"n": 100, "m": 100})
    assert a.cost == b.cost == 1  # 101 requests
    assert (a.node_count, b.node_count) == (200, 10_100)


def test_rounding_is_to_nearest_with_halves_up_and_minimum_one() -> None:
    assert [points_for(r) for r in (0, 1, 49, 50, 149, 150, 249, 5101)] == [1, 1, 1, 1, 1, 2, 2, 51]


def test_fragments_aliases_and_ratelimit() -> None:
    query = """
    query Q($after: String) {
      rateLimit { cost remaining }
      a: repository(owner: "o", name: "n") { ...Prs }
      b: repository(owner: "o", name: "m") {
        pullRequests(first: 50, after: $after) {
          nodes { ... on PullRequest { reviews(first: 10) { totalCount } } }
        }
      }
    }
    fragment Prs on Repository { pullRequests(first: 100) { nodes { ...Rev } } }
    fragment Rev on PullRequest { reviews(first: 10) { nodes { id } } comments { totalCount } }
    """
    # a: 1 + 100 (reviews) + 100 (comments{totalCount}); b: 1 + 50; rateLimit: not a connection
    assert estimate_cost(query).requests == 252


def test_unknown_variables_are_priced_at_the_worst_case() -> None:
    query = """query($n: Int) { repository(owner: "o", name: "n") {
        pullRequests(first: $n) { nodes { reviews(first: 5) { totalCount } } } } }"""
    assert estimate_cost(query).requests == 101
    assert estimate_cost(query, {"n": 10}).requests == 11


def test_node_limit_names_the_connection_that_crosses_it() -> None:
    query = """{ repository(owner: "o", name: "n") { pullRequests(first: 100) { nodes {
        reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } } }"""
    assert estimate_cost(query).node_count == 1_010_100
    assert node_limit_connection(query) == "comments"
    assert node_limit_connection("{ rateLimit { cost } }") is None


def test_several_operations_need_a_name() -> None:
    doc = "query A { rateLimit { cost } } query B { rateLimit { cost } }"
    with pytest.raises(ValueError):
        estimate_cost(doc)
    assert estimate_cost(doc, operation_name="B").cost == 1
