"""Red team: a sync walks `updatedAt` down to a watermark (`since`); a page fetched
ahead there would be past the watermark or stale by the time it is asked for, so a sync never
fetches ahead, and a backfill's fetch ahead of the same repository does not leak into it."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.github_sim import make_sim, settle, sim_client


async def test_a_sync_page_starts_no_fetch_ahead(clock) -> None:
    sim = make_sim(clock, prs=100, seed=5)
    async with sim_client(sim, clock) as client:
        since = datetime(2000, 1, 1, tzinfo=UTC)  # every PR changed since: a long walk
        first = await client.fetch_changed_pull_requests(
            "octo", "big", after=None, page_size=30, since=since
        )
        assert first.has_next_page
        sent = client.requests_sent
        await settle()
        assert client.requests_sent == sent
        assert not client._look_ahead.refills
        # a backfill page of the same repository fetches ahead; the sync's next page is not
        # served from it, and the sync's own walk goes on where it was
        await client.fetch_pull_requests_page("octo", "big", after=None, page_size=30)
        second = await client.fetch_changed_pull_requests(
            "octo", "big", after=first.end_cursor, page_size=30, since=since
        )
    numbers = [pr.number for pr in first.pull_requests + second.pull_requests]
    assert len(numbers) == 60 == len(set(numbers))


async def test_a_fetch_ahead_on_its_way_counts_as_fetched_ahead(clock) -> None:
    """The worker lets a backfill go (end of its slice) only when nothing is fetched ahead for
    it: a page asked for and not yet answered is paid for all the same, so it counts. Seed 1:
    the first page leaves nothing in the buffer but the next page's fetch."""
    sim = make_sim(clock, prs=300, seed=1)
    async with sim_client(sim, clock) as client:
        await client.fetch_pull_requests_page("octo", "big", after=None, page_size=37)
        assert not client._look_ahead.refills["octo", "big"][1].done()  # on its way
        assert client.fetched_ahead("octo", "big") > 0
