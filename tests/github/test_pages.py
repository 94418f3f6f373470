"""Pages arrive oldest first, complete (nested lists beyond 100 included), resumable."""

from __future__ import annotations

import pytest

from core.github import GitHubClient, RepositoryNotFound
from core.simulator import serve
from tests.support.github_sim import SIM_URL, TOKEN, backfill, make_sim


def truth(sim, i: int) -> tuple[int, int, int]:
    meta = sim.world.by_name["octo/big"].meta(i)
    return meta[5], meta[6], len(meta[7])


async def test_full_backfill_is_complete_ordered_and_unique(clock):
    sim = make_sim(clock, prs=150, seed=3)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as client:
        assert await client.repository_pull_request_count("octo", "big") == 150
        prs, costs = await backfill(client, page_size=37)
    assert len(prs) == 150 == len({p.github_id for p in prs})
    created = [p.created_at for p in prs]
    assert created == sorted(created)
    for i, pr in enumerate(prs):
        assert (len(pr.reviews), len(pr.comments), len(pr.labels)) == truth(sim, i)
        assert len({r.github_id for r in pr.reviews}) == len(pr.reviews)
    stats = sim.stats()
    assert sum(len(p.reviews) for p in prs) == stats["reviews"]["octo/big"]
    assert sum(len(p.comments) for p in prs) == stats["comments"]["octo/big"]
    # every page of PRs was served once: no cursor fetched twice
    assert all(count == 1 for count in stats["pages"]["octo/big"].values())
    token = next(iter(stats["tokens"].values()))
    assert sum(costs) + 1 == token["points_used"]  # +1: the totalCount query


async def test_pr_with_350_reviews_and_420_comments_arrives_complete_over_http(clock):
    sim = make_sim(clock, prs=40, seed=109)
    reviews, comments, _ = truth(sim, 16)
    assert reviews >= 350 and comments >= 420  # 354 and 420 for this seed
    with serve(sim) as base_url:
        async with GitHubClient(TOKEN, f"{base_url}/graphql", clock=clock) as client:
            prs, _ = await backfill(client, page_size=50)
    heavy = prs[16]
    assert len(heavy.reviews) == reviews and len(heavy.comments) == comments
    assert len({r.github_id for r in heavy.reviews}) == reviews
    assert len({c.github_id for c in heavy.comments}) == comments
    created = [r.created_at for r in heavy.reviews]
    assert created == sorted(created)


async def test_a_saved_cursor_resumes_exactly_in_a_new_client(clock):
    sim = make_sim(clock, prs=100, seed=5)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as first:
        page = await first.fetch_pull_requests_page("octo", "big", after=None, page_size=30)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as second:
        rest = []
        after = page.end_cursor
        while True:
            nxt = await second.fetch_pull_requests_page("octo", "big", after=after, page_size=30)
            rest.extend(nxt.pull_requests)
            after = nxt.end_cursor
            if not nxt.has_next_page:
                break
    numbers = [p.number for p in page.pull_requests + rest]
    assert len(page.pull_requests) == 30
    assert len(numbers) == 100 == len(set(numbers))
    assert page.total_count == 100


async def test_unknown_repository(clock):
    sim = make_sim(clock)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as client:
        with pytest.raises(RepositoryNotFound, match="nope/missing"):
            await client.repository_pull_request_count("nope", "missing")
        with pytest.raises(RepositoryNotFound):
            await client.fetch_pull_requests_page("nope", "missing", after=None, page_size=10)


async def test_empty_repository(clock):
    sim = make_sim(clock, prs=0)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as client:
        page = await client.fetch_pull_requests_page("octo", "big", after=None, page_size=10)
    assert page.pull_requests == [] and not page.has_next_page and page.total_count == 0


async def test_models_dump_to_json_for_the_store(clock):
    sim = make_sim(clock, prs=120, seed=2)
    async with GitHubClient(TOKEN, SIM_URL, transport=sim.transport(), clock=clock) as client:
        prs, _ = await backfill(client)
    dumped = [p.model_dump(mode="json") for p in prs]
    kinds = {p["author"]["type"] for p in dumped if p["author"]}
    assert "User" in kinds and "Bot" in kinds
    assert any(p["author"] is None for p in dumped)  # deleted users stay null
    assert all(p["created_at"].endswith("Z") for p in dumped)
