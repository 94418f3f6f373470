"""How many 100-PR pages per second the simulator serves in-process.

Later benchmarks of the backfill must know the simulator is not their bottleneck. Each request
is a realistic backfill page (100 PRs, `orderBy: CREATED_AT ASC`, nested `reviews(first: 100)`,
`comments(first: 100)`, labels, commits, `rateLimit`), walking a large repository page by page
through the async httpx transport, so data generation, execution and JSON encoding all count.

    python bench/bench_simulator.py [--pages N] [--prs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from support import figure, print_figures

from core.simulator import RepoSpec, SimConfig, Simulator

PAGE_QUERY = """
query Page($owner: String!, $name: String!, $after: String, $nested: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: 100, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      totalCount
      pageInfo { endCursor hasNextPage }
      nodes {
        id databaseId fullDatabaseId number title body state isDraft merged
        createdAt updatedAt closedAt mergedAt additions deletions changedFiles
        baseRefName headRefName url
        author { __typename login ... on User { id databaseId } ... on Bot { id } }
        commits { totalCount }
        labels(first: 20) { nodes { name } }
        reviews(first: $nested) {
          totalCount pageInfo { endCursor hasNextPage }
          nodes { id fullDatabaseId state body createdAt submittedAt url author { login } }
        }
        comments(first: $nested) {
          totalCount pageInfo { endCursor hasNextPage }
          nodes { id fullDatabaseId body createdAt updatedAt url author { login } }
        }
      }
    }
  }
  rateLimit { cost limit remaining used resetAt nodeCount }
}
"""


async def measure(pages: int, prs: int, nested_first: int = 100) -> dict:
    sim = Simulator(
        SimConfig(repos=[RepoSpec("bench", "mono", prs)], limit=10**9, points_per_minute=10**9)
    )
    transport = sim.transport()
    async with httpx.AsyncClient(transport=transport, base_url="http://github.sim") as client:
        after = None
        served = nested = 0
        bodies: list[bytes] = []
        variables = {"owner": "bench", "name": "mono", "nested": nested_first}
        started = time.perf_counter()
        for _ in range(pages):
            response = await client.post(
                "/graphql",
                json={"query": PAGE_QUERY, "variables": variables | {"after": after}},
                headers={"authorization": "bearer bench-token"},
            )
            response.raise_for_status()
            bodies.append(response.content)
            connection = response.json()["data"]["repository"]["pullRequests"]
            for pr in connection["nodes"]:
                nested += len(pr["reviews"]["nodes"]) + len(pr["comments"]["nodes"])
            served += 1
            after = connection["pageInfo"]["endCursor"]
            if not connection["pageInfo"]["hasNextPage"]:
                after = None
        elapsed = time.perf_counter() - started
    # Reference: the same answers only decoded and encoded again (JSON both ways), the least
    # any server producing them and any client reading them must do.
    started = time.perf_counter()
    for body in bodies:
        json.dumps(json.loads(body))
    floor = time.perf_counter() - started
    return {
        "benchmark": f"simulator_pages_per_second_nested_first_{nested_first}",
        "pages": served,
        "prs_per_page": 100,
        "nested_items_per_page": round(nested / served, 1),
        "seconds": round(elapsed, 3),
        "pages_per_second": round(served / elapsed, 1),
        "json_only_pages_per_second": round(served / floor, 1),
        "target_pages_per_second": 200,
    }


def run(quick: bool) -> list[dict]:
    pages = 60 if quick else 150
    rows = []
    for nested_first in (100, 10):
        r = asyncio.run(measure(pages, 100_000, nested_first))
        rows.append(
            figure(
                "simulator (issue 3)",
                f"100-PR pages served in-process, reviews/comments(first: {nested_first})",
                r["pages_per_second"],
                "pages/s",
                "JSON decode + encode of the same answers",
                r["json_only_pages_per_second"],
                ">= 200 pages/s",
                r["pages_per_second"] >= 200,
                f"{pages} pages, {r['nested_items_per_page']} reviews+comments per page",
            )
        )
    print_figures(rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--prs", type=int, default=100_000)
    args = parser.parse_args()
    for nested_first in (100, 10):
        result = asyncio.run(measure(args.pages, args.prs, nested_first))
        print(json.dumps(result))
        print(
            f"simulator: {result['pages_per_second']} pages/s in-process with "
            f"reviews/comments(first: {nested_first}) "
            f"({result['nested_items_per_page']} reviews+comments per 100-PR page; "
            f"target >= {result['target_pages_per_second']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
