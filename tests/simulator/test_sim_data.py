"""Pagination, ordering, follow-ups and determinism of the simulated data (in-process)."""

from __future__ import annotations

import json

import httpx

from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator

AUTH = {"authorization": "bearer t"}
PAGE = """query($after: String, $field: IssueOrderField!, $dir: OrderDirection!, $n: Int!) {
  repository(owner: "acme", name: "api") {
    pullRequests(first: $n, after: $after, orderBy: {field: $field, direction: $dir}) {
      totalCount pageInfo { endCursor hasNextPage }
      nodes { id number createdAt updatedAt author { __typename login ... on Node { id } }
        reviews(first: 100) { totalCount pageInfo { endCursor hasNextPage } nodes { id } }
        comments(first: 100) { totalCount nodes { id } } } } } }"""


def sim(prs: int = 230, seed: int = 0, **kw) -> Simulator:
    return Simulator(SimConfig(repos=[RepoSpec("acme", "api", prs)], seed=seed, **kw))


def ask(s: Simulator, query: str, **variables) -> dict:
    response = s.handle(
        "POST", "/graphql", AUTH, json.dumps({"query": query, "variables": variables}).encode()
    )
    assert response.status == 200, response.body
    return json.loads(response.body)


def walk(s: Simulator, field="CREATED_AT", direction="ASC", n=100, after=None):
    """All PRs page by page; returns (nodes, last cursor)."""
    out = []
    while True:
        conn = ask(s, PAGE, after=after, field=field, dir=direction, n=n)["data"]["repository"][
            "pullRequests"
        ]
        out += conn["nodes"]
        if conn["pageInfo"]["endCursor"]:
            after = conn["pageInfo"]["endCursor"]
        if not conn["pageInfo"]["hasNextPage"]:
            return out, after


def test_walk_every_pr_once_in_both_orders_and_directions() -> None:
    s = sim()
    for field, key in (("CREATED_AT", "createdAt"), ("UPDATED_AT", "updatedAt")):
        asc, _ = walk(s, field, "ASC")
        desc, _ = walk(s, field, "DESC", n=37)
        assert len(asc) == len({p["id"] for p in asc}) == 230
        assert [p[key] for p in asc] == sorted(p[key] for p in asc)
        assert [p["id"] for p in desc] == [p["id"] for p in reversed(asc)]


def test_numbers_interleave_with_issues() -> None:
    s = sim()
    prs, _ = walk(s)
    numbers = [p["number"] for p in prs]
    assert numbers == sorted(numbers)
    issue_number = next(n for n in range(1, numbers[-1]) if n not in set(numbers))
    query = """query($n: Int!) { repository(owner: "acme", name: "api") {
        pullRequest(number: $n) { id } issueOrPullRequest(number: $n) { __typename } } }"""
    body = ask(s, query, n=issue_number)
    assert body["data"]["repository"] == {
        "pullRequest": None,
        "issueOrPullRequest": {"__typename": "Issue"},
    }
    assert body["errors"][0]["type"] == "NOT_FOUND"
    assert (
        body["errors"][0]["message"]
        == f"Could not resolve to a PullRequest with the number of {issue_number}."
    )


def test_saved_cursor_resumes_exactly_after_new_prs_appear() -> None:
    s = sim()
    first = ask(s, PAGE, after=None, field="CREATED_AT", dir="ASC", n=100)["data"]["repository"][
        "pullRequests"
    ]
    cursor = first["pageInfo"]["endCursor"]
    s.add_pull_requests("acme/api", 15)
    rest, _ = walk(s, after=cursor)
    everything, _ = walk(s)
    assert [p["id"] for p in first["nodes"] + rest] == [p["id"] for p in everything]
    assert len(everything) == 245
    assert everything[-1]["createdAt"] > everything[-16]["createdAt"]  # the new ones are newest


def test_authors_include_bots_and_deleted_accounts_and_heavy_prs_need_follow_ups() -> None:
    s = sim(prs=600)
    prs, _ = walk(s)
    kinds = {p["author"]["__typename"] if p["author"] else None for p in prs}
    assert kinds == {"User", "Bot", "Mannequin", "EnterpriseUserAccount", "Organization", None}
    # As on GitHub, every author is a Node with its own id, whatever its type; mannequins and
    # enterprise accounts carry the logins of users.
    authors = {p["author"]["id"]: p["author"] for p in prs if p["author"]}
    logins: dict[str, set[str]] = {}
    for author in authors.values():
        logins.setdefault(author["login"], set()).add(author["__typename"])
    assert any(len(types) > 1 for types in logins.values())
    (node,) = ask(
        s,
        "query($id: ID!) { node(id: $id) { id } }",
        id=next(i for i, a in authors.items() if a["__typename"] == "Mannequin"),
    )["data"].values()
    assert node["id"].startswith("M_")
    heavy = [p for p in prs if p["reviews"]["totalCount"] > 100]
    assert heavy and all(p["reviews"]["pageInfo"]["hasNextPage"] for p in heavy)
    assert sum(p["reviews"]["totalCount"] <= 10 for p in prs) > 0.8 * len(prs)
    pr = heavy[0]
    seen = [r["id"] for r in pr["reviews"]["nodes"]]
    after = pr["reviews"]["pageInfo"]["endCursor"]
    follow = """query($id: ID!, $after: String) { node(id: $id) { ... on PullRequest {
        reviews(first: 100, after: $after) {
          pageInfo { endCursor hasNextPage } nodes { id } } } } }"""
    while after:
        page = ask(s, follow, id=pr["id"], after=after)["data"]["node"]["reviews"]
        seen += [r["id"] for r in page["nodes"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen)) == pr["reviews"]["totalCount"]
    nodes = ask(s, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=[pr["id"], "PR_bogus"])
    assert nodes["data"]["nodes"] == [{"id": pr["id"]}, None]
    assert nodes["errors"][0]["path"] == ["nodes", 1]


def test_same_seed_same_answers_other_seed_other_data() -> None:
    def run(seed: int) -> list[bytes]:
        s = sim(seed=seed, faults=FaultSpec.parse("502:0.2,partial:0.2,malformed:0.1"),
                clock=lambda: 1_750_000_000.0)  # fmt: skip
        bodies = []
        for _ in range(12):
            body = json.dumps(
                {"query": PAGE, "variables": {"field": "CREATED_AT", "dir": "ASC", "n": 50}}
            )
            r = s.handle("POST", "/graphql", AUTH, body.encode())
            bodies.append(
                r.status.to_bytes(2, "big") + r.body + r.headers["x-github-request-id"].encode()
            )
        return bodies

    assert run(7) == run(7)
    assert run(7) != run(8)
    statuses = {b[:2] for b in run(7)}
    assert len(statuses) > 1  # faults did fire


def test_a_100k_pr_repository_is_instant_and_lazy() -> None:
    import time

    started = time.perf_counter()
    s = sim(prs=100_000)
    conn = ask(s, PAGE, after=None, field="CREATED_AT", dir="DESC", n=100)["data"]["repository"][
        "pullRequests"
    ]
    assert conn["totalCount"] == 100_000
    assert time.perf_counter() - started < 1.0


async def test_async_transport_and_reset_fault() -> None:
    s = sim(faults=FaultSpec.parse("reset:1"))
    async with httpx.AsyncClient(transport=s.transport(), base_url="http://github.sim") as client:
        try:
            await client.post("/graphql", json={"query": "{ rateLimit { cost } }"}, headers=AUTH)
        except httpx.ReadError:
            pass
        else:
            raise AssertionError("expected a connection reset")
    s = sim()
    with httpx.Client(transport=s.sync_transport(), base_url="http://github.sim") as client:
        response = client.post("/api/graphql", json={"query": "{ viewer { login } }"}, headers=AUTH)
        assert response.status_code == 200 and response.json()["data"]["viewer"]["login"]
