"""Hostile GraphQL answers, generated with hypothesis, fed to the GitHub client's parser.

The transport is an httpx MockTransport (the parser is what is under test): every answer
starts from a real simulator answer to the client's own query, then hypothesis deletes keys,
swaps values for arbitrary JSON, or replaces the whole body. Whatever arrives, the client
either returns a well-formed page or raises one of its typed errors (`GitHubError`); never
KeyError, TypeError, AttributeError or a pydantic error. The worker-level test proves that such
a page leaves nothing stored and the chunk failed with its error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.github.client import GitHubClient
from core.github.errors import GitHubError
from core.github.models import PullRequestPage
from core.simulator import RepoSpec, SimConfig, Simulator

pytestmark = pytest.mark.reliability

URL = "http://github.sim/graphql"
TOKEN = "hostile-test-token"

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def genuine_answers() -> dict[str, dict[str, Any]]:
    """Real simulator answers to the client's dry run and first page query (3 PRs, one of them
    with more than 100 reviews so a follow-up `node(id:)` answer is included too)."""
    sim = Simulator(SimConfig(repos=[RepoSpec("octo", "small", prs=40)], seed=4))
    answers: dict[str, dict[str, Any]] = {}

    def record(request: httpx.Request) -> httpx.Response:
        body = request.content
        response = sim.handle("POST", "/graphql", dict(request.headers), body)
        query = json.loads(body)["query"]
        kind = "dry" if "RateLimitDryRun" in query else "page" if "repository(" in query else "f"
        answers.setdefault(kind, json.loads(response.body))
        return httpx.Response(response.status, headers=response.headers, content=response.body)

    async def walk() -> None:
        async with GitHubClient(TOKEN, URL, transport=httpx.MockTransport(record)) as client:
            after = None
            for _ in range(20):
                page = await client.fetch_pull_requests_page(
                    "octo", "small", after=after, page_size=3
                )
                after = page.end_cursor
                if "f" in answers or not page.has_next_page:
                    break

    asyncio.run(walk())
    assert {"dry", "page"} <= set(answers)
    return answers


GENUINE = genuine_answers()


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """`value` with some subtrees deleted, replaced by arbitrary JSON, or mutated deeper."""
    # The envelope (`data`, `repository`) is kept so that most answers reach the page parser.
    choices = ["keep", "keep", "deep", "replace"] if depth >= 2 else ["deep"]
    action = draw(st.sampled_from(choices))
    if action == "keep":
        return value
    if action == "replace":
        return draw(JSON)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if depth >= 2 and draw(st.integers(0, 9)) == 0:
                continue  # key deleted
            out[key] = draw(mutated(item, depth + 1))
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value[:4]]
        return items if draw(st.booleans()) else items[: draw(st.integers(0, len(items)))]
    return draw(JSON) if draw(st.booleans()) else value


def answers() -> st.SearchStrategy[dict[str, Any]]:
    """Mostly a genuine dry run (else the page is never asked for) and a bent page."""
    whole = st.fixed_dictionaries({k: JSON for k in GENUINE})
    dry = st.one_of(st.just(GENUINE["dry"]), st.just(GENUINE["dry"]), mutated(GENUINE["dry"]))
    bent = st.fixed_dictionaries(
        {"dry": dry, **{k: mutated(v) for k, v in GENUINE.items() if k != "dry"}}
    )
    return st.one_of(bent, bent, bent, bent, whole)


async def fetch(replies: dict[str, Any], status: int = 200) -> PullRequestPage:
    def handler(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["query"]
        kind = "dry" if "RateLimitDryRun" in query else "page" if "repository(" in query else "f"
        body = json.dumps(replies.get(kind, replies["page"]))
        return httpx.Response(
            status, content=body.encode(), headers={"content-type": "application/json"}
        )

    clock = [1_750_000_000.0]  # waits (for a hostile reset time too) pass instantly

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    async with GitHubClient(
        TOKEN,
        URL,
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        clock=lambda: clock[0],
        max_retries=1,
    ) as client:
        return await client.fetch_pull_requests_page("octo", "small", after=None, page_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies=answers())
def test_malformed_answers_give_typed_errors_or_a_valid_page(replies: dict[str, Any]) -> None:
    try:
        page = asyncio.run(fetch(replies))
    except GitHubError:
        return  # typed: the worker fails the chunk with this error and retries later
    # Accepted: it must then be a complete, well-formed page.
    assert isinstance(page, PullRequestPage)
    assert len(page.pull_requests) <= 3
    assert len({pr.number for pr in page.pull_requests}) == len(page.pull_requests)
