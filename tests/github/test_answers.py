"""GitHub's answers at the client: each shape from the simulator (in-process and
over HTTP) ends in its one bounded outcome."""

from __future__ import annotations

import time

import pytest

from core.github import GitHubClient
from core.github.errors import (
    BackfillRefused,
    MalformedResponse,
    RateLimitedError,
    TransientError,
)
from core.github.outcomes import Action
from core.github.queries import COUNT_QUERY, PR_FIELDS, REVIEW_NODE
from core.simulator import FaultSpec
from core.simulator.server import serve
from core.store.models import RetryRequest
from tests.support.github_sim import TOKEN, backfill, make_sim, sim_client

VARS = {"owner": "octo", "name": "big"}


def aimed(text: str) -> FaultSpec:
    return FaultSpec.parse(text)


async def test_went_wrong_in_a_200_shrinks_at_once(clock):  # case 1
    sim = make_sim(clock, faults=aimed("went_wrong@octo/big"))
    async with sim_client(sim, clock) as client:
        with pytest.raises(TransientError) as caught:
            await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
    assert caught.value.action is Action.SHRINK and caught.value.attempts == 1
    assert sim.stats()["faults"] == {"went_wrong": 1}  # not retried at the same size


async def test_saml_fails_the_backfill_naming_the_organisation(clock):  # case 2
    sim = make_sim(clock, faults=aimed("saml@octo/big"))
    async with sim_client(sim, clock) as client:
        with pytest.raises(BackfillRefused) as caught:
            await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
    assert caught.value.action is Action.FAIL_BACKFILL
    assert "SAML SSO authorisation" in str(caught.value) and "'octo'" in str(caught.value)
    assert sim.stats()["requests"] == 2  # dry run + the page, never again


def long_pr_number(sim, kind: int = 0, above: int = 100) -> int:
    """Number of the first PR with more than `above` reviews (kind 0) or comments (1)."""
    repo = sim.world.repos[0]
    for i in range(repo.count):
        pr = repo.pull_request(i)
        if pr["_counts"][kind] > above:
            return pr["number"]
    raise AssertionError("no long PR in this repository")


async def refused_walk(client) -> tuple[list, list]:
    """`backfill`, keeping the refused PRs too."""
    prs, refused, after = [], [], None
    while True:
        page = await client.fetch_pull_requests_page("octo", "big", after=after, page_size=37)
        prs.extend(page.pull_requests)
        refused.extend(page.refused)
        after = page.end_cursor
        if not page.has_next_page:
            return prs, refused


async def test_a_pr_gone_at_its_follow_up_is_refused_alone_then_retried_whole(clock):
    """Case 3: the follow-up's `node` is null + NOT_FOUND. That used to block the backfill,
    then stored the PR with 100 of its reviews, then failed its whole page. Now that PR alone
    is refused with GitHub's words (never stored short), the others come through, and asked
    for again alone (`retry`) it comes back whole, first in the page, the cursor unmoved."""
    probe = make_sim(clock, prs=120, seed=1)
    number = long_pr_number(probe)
    sim = make_sim(clock, prs=120, seed=1, faults=aimed(f"vanish@octo/big#{number}*1"))
    async with sim_client(sim, clock) as client:
        prs, refused = await refused_walk(client)
        assert len(prs) == 119 and number not in {p.number for p in prs}
        assert [r.number for r in refused] == [number]
        assert "NOT_FOUND" in refused[0].reason and "Could not resolve" in refused[0].reason
        retry = RetryRequest(github_id=refused[0].github_id, node_id=refused[0].github_id)
        page = await client.fetch_pull_requests_page(
            "octo", "big", after=None, page_size=1, retry=[retry], ahead=False
        )
    assert sim.stats()["faults"]["vanish"] == 1
    whole = page.pull_requests[0]
    assert whole.number == number and whole.retry_of == refused[0].github_id
    assert len(whole.reviews) > 100  # every review, none dropped


async def test_message_only_rate_limit_waits_until_reset(clock):  # case 5
    sim = make_sim(clock, faults=aimed("message_limit@octo/big*1"))
    async with sim_client(sim, clock, min_remaining=0) as client:
        await client.execute(COUNT_QUERY, VARS)
    assert len(clock.sleeps) == 1 and clock.sleeps[0] > 60  # until the window's reset
    assert sim.stats()["faults"] == {"message_limit": 1}


async def test_plain_text_secondary_limit_waits_not_token_scope(clock):  # case 5
    sim = make_sim(clock, faults=aimed("secondary_text@octo/big*2"))
    async with sim_client(sim, clock, min_remaining=0) as client:
        await client.execute(COUNT_QUERY, VARS)
    assert len(clock.sleeps) == 2 and all(s >= 60 for s in clock.sleeps)


async def test_body_not_matching_content_encoding_is_bounded_transient(clock):  # case 6
    sim = make_sim(clock, faults=FaultSpec.parse("bad_encoding:1.0"))
    async with sim_client(sim, clock, max_retries=2) as client:
        with pytest.raises(TransientError, match="Content-Encoding") as caught:
            await client.execute(COUNT_QUERY, VARS)
    assert caught.value.attempts == 3 and sim.stats()["requests"] == 3


async def test_a_page_repeating_the_previous_one_is_not_progress(clock):  # case 7
    sim = make_sim(clock, prs=120, faults=aimed("repeat_page@octo/big"))
    async with sim_client(sim, clock) as client:
        with pytest.raises(MalformedResponse, match=r"repeats|same cursor"):
            await backfill(client)  # never hands out the same PRs twice
    # a fresh start from a stored cursor: the answer ends where it was asked to begin
    clean = make_sim(clock, prs=120)
    async with sim_client(clean, clock) as client:
        first = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
    async with sim_client(sim, clock) as client:
        with pytest.raises(MalformedResponse, match="same cursor"):
            await client.fetch_pull_requests_page(
                "octo", "big", after=first.end_cursor, page_size=20
            )


async def test_more_without_a_cursor_refuses_that_pr_never_the_end(clock):  # case 8
    probe = make_sim(clock, prs=120, seed=1)
    number = long_pr_number(probe)
    sim = make_sim(clock, prs=120, seed=1, faults=aimed(f"null_cursor@octo/big#{number}"))
    async with sim_client(sim, clock) as client:
        prs, refused = await refused_walk(client)
    assert len(prs) == 119 and [r.number for r in refused] == [number]
    assert "more but give no cursor" in refused[0].reason


async def test_a_trickling_answer_hits_the_overall_deadline(clock):  # case 9
    sim = make_sim(time.time, faults=FaultSpec.parse("trickle:1.0"), trickle_seconds=0.2)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with serve(sim) as base_url:
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", request_deadline=1.0, max_retries=1, sleep=sleep
        ) as client:
            started = time.perf_counter()
            with pytest.raises(TransientError, match="timed out"):
                await client.execute(COUNT_QUERY, VARS)
            assert time.perf_counter() - started < 4  # 2 tries x 1 s, not the whole body


async def test_a_huge_answer_is_not_read_whole(clock):  # case 9
    sim = make_sim(time.time, faults=FaultSpec.parse("huge:1.0"), huge_bytes=100 * 1024 * 1024)
    with serve(sim) as base_url:
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", max_answer_bytes=1024 * 1024, max_retries=0
        ) as client:
            started = time.perf_counter()
            with pytest.raises(TransientError, match="too large"):
                await client.execute(COUNT_QUERY, VARS)
            assert time.perf_counter() - started < 5


async def test_clock_two_minutes_ahead_never_sends_while_limited(clock):  # case 4
    """The worker's clock is 2 min ahead of GitHub's: GitHub's reset looks past, yet GitHub
    still says limited. The offset read from `Date` makes the client wait GitHub's reset:
    one limited answer at most, no burst, no error."""
    sim = make_sim(clock, limit=4, window_seconds=90)
    ahead = lambda: clock() + 120  # noqa: E731
    async with GitHubClient(
        TOKEN,
        "http://github.sim/graphql",
        transport=sim.transport(),
        clock=ahead,
        sleep=clock.sleep,
        min_remaining=0,
    ) as client:
        for _ in range(10):  # 10 points through a 4-point window
            await client.execute(COUNT_QUERY, VARS)
    assert sim.stats()["outcomes"].get("rate_limited", 0) == 0
    assert sum(clock.sleeps) >= 2 * 90 - 5  # two windows waited out, on GitHub's clock


async def test_ids_are_full_database_ids_past_2_31(clock):  # case 12
    sim = make_sim(clock, prs=40)
    async with sim_client(sim, clock) as client:
        prs, _ = await backfill(client)
    ids = [p.database_id for p in prs]
    ids += [r.database_id for p in prs for r in p.reviews]
    ids += [c.database_id for p in prs for c in p.comments]
    assert ids and all(i is not None and i > 2**31 for i in ids)
    assert (
        "fullDatabaseId" in PR_FIELDS
        and "databaseId" not in REVIEW_NODE.replace("fullDatabaseId", "").split("author")[0]
    )


async def test_rate_limited_error_still_raised_when_not_waiting(clock):
    sim = make_sim(clock, faults=aimed("message_limit@octo/big"))
    async with sim_client(sim, clock, wait_on_rate_limit=False) as client:
        with pytest.raises(RateLimitedError):
            await client.execute(COUNT_QUERY, VARS)
