"""The simulator over real HTTP: GitHub's status codes, headers and bodies for each case."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from core.secrets import fingerprint
from core.simulator import FaultSpec, RepoSpec, SimConfig, Simulator, serve
from core.simulator.server import make_server

TOKEN = "simulator-token-1"
AUTH = {"authorization": f"bearer {TOKEN}"}
RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
    "x-github-request-id",
)
PAGE = """query($after: String) { repository(owner: "acme", name: "api") {
  pullRequests(first: 100, after: $after) { totalCount pageInfo { endCursor hasNextPage }
    nodes { number reviews(first: 5) { totalCount } comments(first: 5) { totalCount } } } }
  rateLimit { cost limit remaining used resetAt nodeCount } }"""  # 1 + 100 + 100 -> 2 points


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(**overrides) -> Simulator:
    config = dict(repos=[RepoSpec("acme", "api", 250)], clock=Clock())
    config.update(overrides)
    return Simulator(SimConfig(**config))


def post(client: httpx.Client, query: str, variables=None, headers=AUTH) -> httpx.Response:
    return client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


@pytest.fixture
def http():
    """Yields a function: Simulator -> httpx.Client talking to it over a real socket."""
    opened = []

    def open_(sim: Simulator) -> httpx.Client:
        ctx = serve(sim)
        url = ctx.__enter__()
        client = httpx.Client(base_url=url, timeout=10)
        opened.append((ctx, client))
        return client

    yield open_
    for ctx, client in opened:
        client.close()
        ctx.__exit__(None, None, None)


def assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert name in response.headers, name
    assert response.headers["x-ratelimit-resource"] == "graphql"


def test_page_charges_cost_and_reports_it_in_headers_and_ratelimit(http) -> None:
    sim = make()
    client = http(sim)
    response = post(client, PAGE)
    assert response.status_code == 200
    assert_rate_headers(response)
    rate = response.json()["data"]["rateLimit"]
    assert rate["cost"] == 2 and rate["used"] == 2 and rate["remaining"] == 4998
    assert rate["nodeCount"] == 100 + 500 + 500
    assert response.headers["x-ratelimit-remaining"] == "4998"
    assert response.headers["x-ratelimit-used"] == "2"
    assert int(response.headers["x-ratelimit-reset"]) == 1_750_000_000 + 3600
    assert rate["resetAt"] == "2025-06-15T16:06:40Z"  # 1,750,003,600 as ISO-8601


def test_budget_exhaustion_then_reset_after_the_window(http) -> None:
    clock = Clock()
    sim = make(limit=5, window_seconds=60, clock=clock)
    client = http(sim)
    assert post(client, PAGE).status_code == 200  # used 2
    assert post(client, PAGE).status_code == 200  # used 4, remaining 1
    over = post(client, PAGE)  # costs 2 > 1 remaining: fails although the header shows 1 left
    assert over.status_code == 200
    assert over.json() == {
        "data": None,
        "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}],
    }
    assert over.headers["x-ratelimit-remaining"] == "1"
    assert post(client, "{ rateLimit { cost } }").status_code == 200  # costs 1: used 5
    empty = post(client, "{ rateLimit { cost } }")
    assert empty.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert empty.headers["x-ratelimit-remaining"] == "0"
    assert empty.headers["x-ratelimit-reset"] == str(1_750_000_000 + 60)
    clock.now += 60  # the window ends: a new one starts at the next request
    again = post(client, PAGE)
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "3"
    assert again.headers["x-ratelimit-reset"] == str(int(clock.now + 60))


def test_newer_rate_limit_shape_is_selectable(http) -> None:
    client = http(make(limit=1, rate_limit_style="new"))
    post(client, "{ rateLimit { cost } }")
    body = post(client, "{ rateLimit { cost } }").json()
    assert body == {
        "errors": [
            {
                "type": "RATE_LIMIT",
                "code": "graphql_rate_limit",
                "message": "API rate limit already exceeded for user ID 1.",
            }
        ]
    }


def test_dry_run_prices_without_charging(http) -> None:
    client = http(make())
    query = PAGE.replace("rateLimit {", "rateLimit(dryRun: true) {")
    response = post(client, query)
    body = response.json()
    assert body["data"]["rateLimit"]["cost"] == 2
    assert body["data"]["rateLimit"]["remaining"] == 5000
    assert body["data"]["repository"] is None  # not evaluated
    assert response.headers["x-ratelimit-used"] == "0"
    assert post(client, PAGE).headers["x-ratelimit-used"] == "2"


@pytest.mark.parametrize("retry_after", [7, None])
def test_secondary_limit_points_per_minute(http, retry_after) -> None:
    clock = Clock()
    client = http(make(points_per_minute=3, secondary_retry_after=retry_after, clock=clock))
    for _ in range(3):
        assert post(client, "{ rateLimit { cost } }").status_code == 200
    limited = post(client, "{ rateLimit { cost } }")
    assert limited.status_code == 403
    assert_rate_headers(limited)
    body = limited.json()
    assert body["message"].startswith("You have exceeded a secondary rate limit.")
    assert limited.headers["x-github-request-id"] in body["message"]
    assert body["documentation_url"].endswith("#secondary-rate-limits")
    if retry_after is None:
        assert "retry-after" not in limited.headers
    else:
        assert limited.headers["retry-after"] == str(retry_after)
    clock.now += 61
    assert post(client, "{ rateLimit { cost } }").status_code == 200


def test_secondary_limit_concurrency_over_real_http(http) -> None:
    sim = make(max_concurrent=2, latency_ms=400, clock=__import__("time").time)
    url_client = http(sim)
    statuses: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=str(url_client.base_url), timeout=10) as c:
            statuses.append(post(c, "{ rateLimit { cost } }").status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 403, 403]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "bearer"}, {"authorization": "basic abc"},
     {"authorization": "token revoked"}, {"authorization": "bearer unknown"}],
)  # fmt: skip
def test_bad_credentials(http, headers) -> None:
    client = http(make(tokens=frozenset({TOKEN}), revoked_tokens=frozenset({"revoked"})))
    response = post(client, PAGE, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/graphql",
    }
    assert_rate_headers(response)
    assert post(client, PAGE, headers={"authorization": f"token {TOKEN}"}).status_code == 200


def test_unknown_repository_is_not_found(http) -> None:
    client = http(make())
    body = post(client, '{\n  repository(owner: "acme", name: "nope") { id }\n}').json()
    assert body == {
        "data": {"repository": None},
        "errors": [
            {
                "type": "NOT_FOUND",
                "path": ["repository"],
                "locations": [{"line": 2, "column": 3}],
                "message": "Could not resolve to a Repository with the name 'acme/nope'.",
            }
        ],
    }


def test_validation_errors_are_200_with_githubs_codes(http) -> None:
    client = http(make())
    response = post(client, '{ repository(owner: "acme", name: "api") { stars } }')
    assert response.status_code == 200
    assert_rate_headers(response)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "undefinedField"
    assert error["path"] == ["query", "repository", "stars"]
    assert error["message"] == "Field 'stars' doesn't exist on type 'Repository'"
    assert "data" not in response.json()


@pytest.mark.parametrize(
    ("page", "kind"),
    [("first: 0", "INVALID_PAGINATION"), ("first: 101", "EXCESSIVE_PAGINATION"),
     ("last: 101", "EXCESSIVE_PAGINATION"), ("", "MISSING_PAGINATION_BOUNDARIES")],
)  # fmt: skip
def test_page_size_must_be_1_to_100(http, page, kind) -> None:
    client = http(make())
    args = f"({page})" if page else ""
    body = post(
        client,
        f'{{ repository(owner: "acme", name: "api") {{ pullRequests{args} '
        "{ nodes { id } } } }",
    ).json()
    assert body["data"] == {"repository": None}
    assert body["errors"][0]["type"] == kind
    assert body["errors"][0]["path"] == ["repository", "pullRequests"]
    if kind == "EXCESSIVE_PAGINATION":
        assert "exceeds the" in body["errors"][0]["message"]
        assert "limit of 100 records" in body["errors"][0]["message"]


def test_node_limit(http) -> None:
    client = http(make())
    query = """{ repository(owner: "acme", name: "api") { pullRequests(first: 100) { nodes {
        reviews(first: 100) { nodes { id } }
        comments(first: 100) { nodes { id } }
        labels(first: 100) { nodes { pullRequests: id } } } } } }"""
    assert post(client, query).status_code == 200  # 30,100 nodes: fine
    deep = """{ repository(owner: "acme", name: "api") { pullRequests(first: 100) { nodes {
        reviews(first: 100) { nodes { pullRequest {
          comments(first: 100) { nodes { id } } } } } } } } }"""
    response = post(client, deep)
    (error,) = response.json()["errors"]
    assert error["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "comments connection" in error["message"] and "1,010,100" in error["message"]
    assert response.headers["x-ratelimit-used"] == "3"  # only the first query (301 -> 3) paid


@pytest.mark.parametrize("code", ["502", "504"])
def test_gateway_faults(http, code) -> None:
    client = http(make(faults=FaultSpec.parse(f"{code}:1")))
    response = post(client, PAGE)
    assert response.status_code == int(code)
    assert_rate_headers(response)
    body = response.json()
    if code == "502":
        assert body["data"] is None
        assert body["errors"][0]["message"].startswith("Something went wrong while executing")
    else:
        assert body["message"].startswith("We couldn't respond to your request in time.")


def test_connection_reset_and_malformed_json(http) -> None:
    client = http(make(faults=FaultSpec.parse("reset:1")))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        post(client, PAGE)
    client = http(make(faults=FaultSpec.parse("malformed:1")))
    response = post(client, PAGE)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_queries_time_out_with_502_and_extra_points(http) -> None:
    sim = make(server_ms_per_node=100, timeout_penalty_points=10)  # 1,000+ objects -> > 10 s
    client = http(sim)
    response = post(client, PAGE)
    assert response.status_code == 502
    assert "timeout" in response.json()["errors"][0]["message"]
    assert response.headers["x-ratelimit-used"] == "12"  # cost 2 + penalty 10
    assert sim.stats()["pages"] == {}  # nothing was delivered


def test_resource_limits_exceeded_gives_partial_data(http) -> None:
    client = http(make(resource_limit_nodes=300))
    body = post(client, PAGE).json()
    nodes = body["data"]["repository"]["pullRequests"]["nodes"]
    assert any(n is not None for n in nodes) and any(n is None for n in nodes)
    error = body["errors"][0]
    assert error["type"] == "RESOURCE_LIMITS_EXCEEDED"
    assert error["message"] == "Resource limits for this query exceeded."
    assert error["path"][:3] == ["repository", "pullRequests", "nodes"]


def test_stats_over_http_count_pages_and_never_show_tokens(http) -> None:
    sim = make()
    client = http(sim)
    first = post(client, PAGE).json()["data"]["repository"]["pullRequests"]
    post(client, PAGE, {"after": first["pageInfo"]["endCursor"]})
    post(client, PAGE)  # the first page again
    response = client.get("/_sim/stats")
    text = response.text
    assert TOKEN not in text
    stats = response.json()
    pages = stats["pages"]["acme/api"]
    assert pages["start|CREATED_AT|ASC"] == 2
    assert pages[f"{first['pageInfo']['endCursor']}|CREATED_AT|ASC"] == 1
    assert stats["tokens"][fingerprint(TOKEN)]["points_used"] == 6
    assert stats["tokens"][fingerprint(TOKEN)]["remaining"] == 4994
    assert stats["requests"] == 3
    assert stats["prs"] == {"acme/api": 250}
    assert stats["reviews"]["acme/api"] > 0 and stats["comments"]["acme/api"] > 0


def test_every_connection_sends_without_waiting_for_the_clients_ack() -> None:
    """TCP_NODELAY on each accepted connection (socketserver sets it from the handler's
    `disable_nagle_algorithm`): an answer goes out as two writes, headers then body, and with
    Nagle's algorithm the body waited for the client's delayed ACK, 40 ms on every answer
    (the test suite's simulated GitHub ran 40 times slower than it answers)."""
    server = make_server(make())
    try:
        assert server.RequestHandlerClass.disable_nagle_algorithm is True
    finally:
        server.server_close()
