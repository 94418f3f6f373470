"""Points the GitHub client spends per 1,000 PRs backfilled, against the minimum GitHub allows.

Backfills every page of a simulated repository (in-process simulator, deterministic data: ~5%
of PRs carry 100-450 reviews and/or comments) and compares the points charged with a lower
bound computed from the data itself:

  Every query costs max(1, round_half_up(requests / 100)) points, so one point pays for at most
  149 requests, and a query of c points for at most 100c + 49 ≤ 149c. Any valid set of queries
  fetching the same data must contain, as separate connection requests:
    - ceil(N / 100) for listing N PRs (`pullRequests`, at most 100 per page);
    - per PR, one `commits { totalCount }` and, for each of reviews / comments / labels /
      reviewThreads, max(1, ceil(count / 100)) pages (a connection returns at most 100 nodes
      per page);
    - per review thread, max(1, ceil(comments / 100)): GitHub charges a nested connection once
      per parent its parent's `first` could list, so each thread's comments cost at least one
      request (an oracle knowing every PR's thread count would ask for exactly that many).
  Follow-up pages can be aliased into any query, so packing is unconstrained and
      minimum points = ceil(total requests / 149).

Why nothing cheaper is possible for threads: a PR's thread count is unknown until asked (one
request for its `reviewThreads`, even when it has none), and a thread's comments are a
connection under the thread, costing one request per thread its parent could list: listing k
threads with their comments costs 1 + k, and asking each thread's comments by its id costs 1
per thread; both are counted above, with no request for threads a PR does not have. The
client reaches this shape (threads listed without comments in the page, comments by thread
id), so the gap left is packing (pages of 29 PRs at 146 requests, follow-ups filling to 149).
Not counted as cheaper: connections under `nodes(ids: [...])`. GitHub documents no price for
them (its rule names connections' `first`/`last` only) and the client does not rely on one;
a bound that assumed a list of ids costs what one id costs would be one no documented query
could be shown to reach.

Prints one JSON line, then one human line. Usage: python bench/bench_client_points.py [PRS] [SEED]
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.github import GitHubClient, PullRequest
from core.github.queries import REQUESTS_PER_POINT, best_page_size
from core.simulator import RepoSpec, SimConfig, Simulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import figure, print_figures

TOKEN = "bench-token"


def minimum_points(prs: list[PullRequest]) -> tuple[int, int]:
    """(requests, points): the least any valid set of queries could spend on this data."""
    requests = math.ceil(len(prs) / 100)
    for pr in prs:
        requests += 1  # commits { totalCount }
        threads = pr.review_threads or []
        for count in (len(pr.reviews), len(pr.comments), len(pr.labels), len(threads)):
            requests += max(1, math.ceil(count / 100))
        requests += sum(max(1, math.ceil(len(t.comments) / 100)) for t in threads)
    return requests, math.ceil(requests / REQUESTS_PER_POINT)


async def backfill(n_prs: int, seed: int) -> dict:
    sim = Simulator(SimConfig(repos=[RepoSpec("bench", "repo", prs=n_prs)], seed=seed))
    prs: list[PullRequest] = []
    started = time.perf_counter()
    async with GitHubClient(
        TOKEN, "http://github.sim/graphql", transport=sim.transport(), min_remaining=0
    ) as client:
        after, page_size = None, best_page_size()
        while True:
            page = await client.fetch_pull_requests_page(
                "bench", "repo", after=after, page_size=page_size
            )
            prs.extend(page.pull_requests)
            after = page.end_cursor
            if not page.has_next_page:
                break
    elapsed = time.perf_counter() - started
    stats = sim.stats()
    spent = next(iter(stats["tokens"].values()))["points_used"]
    reviews, comments = sum(len(p.reviews) for p in prs), sum(len(p.comments) for p in prs)
    assert len(prs) == stats["prs"]["bench/repo"] == len({p.number for p in prs})
    assert reviews == stats["reviews"]["bench/repo"] and comments == stats["comments"]["bench/repo"]
    threads = [t for p in prs for t in p.review_threads or []]
    review_comments = sum(len(t.comments) for t in threads)
    assert len(threads) == stats["review_threads"]["bench/repo"]
    assert review_comments == stats["review_comments"]["bench/repo"]
    min_requests, min_points = minimum_points(prs)
    return {
        "bench": "client_points",
        "prs": len(prs),
        "reviews": reviews,
        "comments": comments,
        "review_threads": len(threads),
        "review_comments": review_comments,
        "points_spent": spent,
        "queries": stats["requests"],
        "min_requests": min_requests,
        "min_points": min_points,
        "points_per_1000_prs": round(spent * 1000 / len(prs), 2),
        "min_points_per_1000_prs": round(min_points * 1000 / len(prs), 2),
        "overhead_pct": round((spent / min_points - 1) * 100, 2),
        "seconds": round(elapsed, 2),
    }


def run(quick: bool) -> list[dict]:
    r = asyncio.run(backfill(5000, 1))  # smaller makes the minimum too coarse
    rows = [
        figure(
            "GitHub client (issues 4, 28)",
            "points per 1,000 PRs backfilled with the whole conversation "
            f"({r['prs']:,} PRs, {r['reviews']:,} reviews, "
            f"{r['comments']:,} comments, {r['review_threads']:,} review threads, "
            f"{r['review_comments']:,} review comments)",
            r["points_per_1000_prs"],
            "points/1k PRs",
            "minimum GitHub's cost rule allows for the same data",
            r["min_points_per_1000_prs"],
            "within 5% of the minimum (ratio <= 1.05)",
            r["points_spent"] <= 1.05 * r["min_points"],
            f"{r['queries']} queries, {r['points_spent']} points vs minimum {r['min_points']}",
        )
    ]
    print_figures(rows)
    return rows


def main() -> None:
    n_prs = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    result = asyncio.run(backfill(n_prs, seed))
    print(json.dumps(result))
    print(
        f"{result['prs']} PRs ({result['reviews']} reviews, {result['comments']} comments): "
        f"{result['points_spent']} points = {result['points_per_1000_prs']}/1k PRs; minimum "
        f"{result['min_points']} = {result['min_points_per_1000_prs']}/1k PRs; "
        f"overhead {result['overhead_pct']}% in {result['seconds']}s"
    )


if __name__ == "__main__":
    main()
