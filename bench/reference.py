"""The reference strategy: the original JavaScript implementation's documented page walk.

What it reproduces (spec/backfill-enhancements.md and DESIGN.md §7, "the reference
implementation's mistakes"):

- pages of 25 PRs, newest first (`orderBy: {field: CREATED_AT, direction: DESC}`), with the
  same PR fields as `core.github.queries` (nested reviews, comments, labels, commits);
- one separate `rateLimit` query before every page (`checkRateLimitBeforeQuery`), which
  GitHub charges like any query (1 point minimum);
- a fixed 2 s pause between pages;
- it stops for good when the budget falls under MIN_GRAPHQL_POINTS (500): no wait for the reset.

What it leaves out on purpose, so the comparison is not won by a bug: the cursor *is*
advanced (the original fetched the same page 10x), and nothing is written to a database (the
original wrote PRs only; writing nothing makes the reference faster, not slower). Like the
original, it never fetches the reviews/comments beyond the first 100 of a PR.

The pause: the real 2 s is slept as `pause * pause_scale` so the benchmark finishes; the
result reports both the measured time and the projected real time, i.e. the measured time
with every scaled pause replaced by the full 2 s.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.github.queries import PR_FIELDS, RATE_LIMIT_FIELDS

PAGE_SIZE = 25
PAUSE_SECONDS = 2.0
MIN_GRAPHQL_POINTS = 500

PAGE_QUERY = (
    "query ReferencePage($owner: String!, $name: String!, $after: String) { "
    "repository(owner: $owner, name: $name) { "
    f"pullRequests(first: {PAGE_SIZE}, after: $after, "
    "orderBy: {field: CREATED_AT, direction: DESC}) { "
    "totalCount pageInfo { endCursor hasNextPage } "
    f"nodes {{ {PR_FIELDS} }} }} }} }}"
)
RATE_QUERY = f"query ReferenceRateLimit {{ {RATE_LIMIT_FIELDS} }}"


@dataclass
class ReferenceRun:
    prs: int = 0
    pages: int = 0
    rate_limit_queries: int = 0
    pauses: int = 0
    stopped_on_low_budget: bool = False
    measured_seconds: float = 0.0
    pause_scale: float = 1.0

    @property
    def projected_seconds(self) -> float:
        """Measured time with every pause at its real 2 s."""
        return self.measured_seconds + self.pauses * PAUSE_SECONDS * (1 - self.pause_scale)


async def run_reference(
    graphql_url: str,
    token: str,
    repos: list[tuple[str, str]],
    *,
    pause_scale: float = 0.01,
    min_points: int = MIN_GRAPHQL_POINTS,
) -> ReferenceRun:
    """Walk every repository as the original did, one after the other."""
    result = ReferenceRun(pause_scale=pause_scale)
    headers = {"authorization": f"bearer {token}"}
    started = time.perf_counter()
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:

        async def post(query: str, variables: dict | None = None) -> dict:
            response = await http.post(graphql_url, json={"query": query, "variables": variables})
            response.raise_for_status()
            return response.json()

        for owner, name in repos:
            after: str | None = None
            while True:
                if result.pages:
                    result.pauses += 1
                    await asyncio.sleep(PAUSE_SECONDS * pause_scale)
                rate = (await post(RATE_QUERY))["data"]["rateLimit"]
                result.rate_limit_queries += 1
                if rate["remaining"] < min_points:
                    result.stopped_on_low_budget = True  # paused forever
                    result.measured_seconds = time.perf_counter() - started
                    return result
                payload = await post(PAGE_QUERY, {"owner": owner, "name": name, "after": after})
                connection = payload["data"]["repository"]["pullRequests"]
                result.pages += 1
                result.prs += len(connection["nodes"])
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                after = connection["pageInfo"]["endCursor"]
    result.measured_seconds = time.perf_counter() - started
    return result
