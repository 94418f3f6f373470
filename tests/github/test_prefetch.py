"""The next page of a backfill is fetched while the caller stores this one: GitHub's time and
the store's overlap. Still one request at a time per repository, nothing fetched twice or
lost, and an error of the background fetch is the next call's, not a silent loss."""

from __future__ import annotations

import pytest

from core.github import GitHubError
from core.simulator.config import FaultSpec
from tests.support.github_sim import backfill, make_sim, settle, sim_client


async def test_the_next_page_is_on_its_way_before_it_is_asked_for(clock) -> None:
    sim = make_sim(clock, prs=100, seed=5)
    async with sim_client(sim, clock) as client:
        first = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        sent = client.requests_sent
        await settle()
        ahead = client.requests_sent
        assert ahead > sent  # the next page (and its PRs' follow-ups), asked for by nobody yet
        second = await client.fetch_pull_requests_page(
            "octo", "big", after=first.end_cursor, page_size=20
        )
        assert client.requests_sent == ahead  # it was already here
        numbers = [pr.number for pr in first.pull_requests + second.pull_requests]
        assert len(numbers) == 40 == len(set(numbers))
    # every cursor served once, the background fetch included
    assert all(count == 1 for count in sim.stats()["pages"]["octo/big"].values())


async def test_a_whole_backfill_with_fetches_ahead_is_exact(clock) -> None:
    sim = make_sim(clock, prs=150, seed=3)
    async with sim_client(sim, clock) as client:
        prs, costs = await backfill(client, page_size=37)
    stats = sim.stats()
    assert len(prs) == 150 == len({p.github_id for p in prs})
    assert sum(len(p.reviews) for p in prs) == stats["reviews"]["octo/big"]
    assert sum(len(p.comments) for p in prs) == stats["comments"]["octo/big"]
    (token,) = stats["tokens"].values()
    assert sum(costs) == token["points_used"]  # each page carries what was paid for it


async def test_an_error_of_the_background_fetch_is_raised_by_the_next_call(clock) -> None:
    sim = make_sim(clock, prs=100, seed=5)
    async with sim_client(sim, clock, max_retries=1) as client:
        first = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        sim.config.faults = FaultSpec(rates={"502": 1.0})  # before the background fetch runs
        with pytest.raises(GitHubError):
            await client.fetch_pull_requests_page(
                "octo", "big", after=first.end_cursor, page_size=20
            )
        sim.config.faults = None
        again = await client.fetch_pull_requests_page(
            "octo", "big", after=first.end_cursor, page_size=20
        )
    numbers = [pr.number for pr in first.pull_requests + again.pull_requests]
    assert numbers == sorted(numbers) and len(numbers) == 40 == len(set(numbers))


async def test_a_backfill_let_go_stops_its_background_fetch(clock) -> None:
    """`forget` (a lease let go) and leaving the client end the fetch ahead: nothing keeps
    running for a repository nobody works on, and no error is left unretrieved."""
    sim = make_sim(clock, prs=100, seed=5)
    async with sim_client(sim, clock) as client:
        await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        client.forget("octo", "big")
        sent = client.requests_sent
        await settle()
        assert client.requests_sent == sent  # cancelled before it was sent
        assert client.fetched_ahead("octo", "big") == 0
        await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
    assert not client._look_ahead.refills  # closing the client dropped the last one


async def test_a_fetch_ahead_never_waits_for_the_points_budget(clock) -> None:
    """A spent budget ends the fetch ahead quietly: the hour's wait (or letting the backfill
    go for another one with budget) is its caller's choice, made before the next call."""
    probe = make_sim(clock, prs=100, seed=5)
    async with sim_client(probe, clock) as client:
        await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        # what the first page cost (its PRs' follow-ups included); nothing ahead is sent yet
        (token,) = probe.stats()["tokens"].values()
        points = token["points_used"]
    sim = make_sim(clock, prs=100, seed=5, limit=1 + points)  # the count query and the page
    async with sim_client(sim, clock, min_remaining=0) as client:
        assert await client.repository_pull_request_count("octo", "big") == 100
        first = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        await settle()
        assert clock.sleeps == []  # nothing waited for the reset in the background
        assert client._look_ahead.refills["octo", "big"][1].done()
        assert not client.within_budget(1)
        second = await client.fetch_pull_requests_page(
            "octo", "big", after=first.end_cursor, page_size=20
        )
    assert clock.sleeps and clock.sleeps[0] > 0  # this call waited for the reset
    assert second.pull_requests[0].number > first.pull_requests[-1].number
    assert sim.stats()["outcomes"].get("rate_limited", 0) == 0


async def test_a_page_on_its_way_can_be_awaited_and_counted_without_taking_it(clock) -> None:
    """Before a worker lets a backfill go (its budget spent, another installation's free), it
    waits for the page on its way and stores what it paid for; the page's error, if any,
    stays the next call's."""
    sim = make_sim(clock, prs=100, seed=5)
    async with sim_client(sim, clock) as client:
        first = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=20)
        assert client.fetched_complete("octo", "big") < 20  # the next page is not here yet
        await client.ahead_arrived("octo", "big")
        assert client.fetched_complete("octo", "big") >= 20
        sent = client.requests_sent
        second = await client.fetch_pull_requests_page(
            "octo", "big", after=first.end_cursor, page_size=20
        )
        assert client.requests_sent == sent  # taken from what arrived
        assert len(second.pull_requests) == 20
