"""Review threads and their inline comments come out of a backfill complete: past 100 threads
in a PR and past 100 comments in a thread, exactly as the simulator's truth has them."""

from __future__ import annotations

from core.github.queries import best_page_size
from core.simulator import threads
from tests.support.github_sim import backfill, make_sim, sim_client


async def test_a_backfill_reads_every_thread_and_review_comment(clock) -> None:
    sim = make_sim(clock, prs=300, seed=3)  # PRs 41, 59, 258 have >100 threads; 5 long threads
    async with sim_client(sim, clock) as client:
        prs, costs = await backfill(client, page_size=best_page_size())
    truth = {pr["id"]: pr["review_threads"] for pr in sim.truth("octo/big")["pull_requests"]}
    repo = sim.world.repos[0]
    got = {}
    for pr in prs:
        assert pr.review_threads is not None
        got[pr.github_id] = [
            {
                "id": t.github_id,
                "isResolved": t.is_resolved,
                "isOutdated": t.is_outdated,
                "comments": [c.github_id for c in t.comments],
            }
            for t in pr.review_threads
        ]
    assert got == truth
    assert max(len(t) for t in truth.values()) > 100
    assert max(len(c["comments"]) for t in truth.values() for c in t) > 100
    stats = sim.stats()
    assert sum(len(t) for t in got.values()) == stats["review_threads"]["octo/big"]
    stored = [c for pr in prs for t in pr.review_threads or [] for c in t.comments]
    assert len(stored) == stats["review_comments"]["octo/big"]
    # bodies, replies and the place on the diff, as GitHub holds them
    pr = next(p for p in prs if p.review_threads and len(p.review_threads[0].comments) > 1)
    i = next(i for i in range(repo.count) if repo.pull_request(i)["id"] == pr.github_id)
    first, second = pr.review_threads[0].comments[:2]
    expected = threads.review_comment(repo, i, 0, 1)
    assert (second.body, second.path, second.original_line) == (
        expected["body"],
        expected["path"],
        expected["originalLine"],
    )
    assert second.in_reply_to == first.github_id and first.in_reply_to is None
    assert sum(costs) == next(iter(stats["tokens"].values()))["points_used"]
