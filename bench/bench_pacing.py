"""PRs per hour per token on the simulator's `github` profile (issue 16), against the ceiling the
profile itself allows, for three strategies on the same data in the same run.

Each strategy gets its own simulator process with the same seed and repositories (identical
data), `--profile github --time-scale SCALE`: GitHub's server time (calibrated to public
timings, see core/simulator/config.py), the 10 s kill, 60 s of server time per minute per
token, all SCALE times faster. PRs per hour are in GitHub's time: PRs over the token's span in
the simulator (first request to last answer, times SCALE), so process start-up is not counted
against anyone.

- ours: `backfill-console worker --until-idle --concurrency 2` storing into Postgres, paced
  with GITHUB_SERVER_TIME_WINDOW = 60 / SCALE (the budget defaults to 90% of it);
- the original strategy (bench/reference.py): 25-PR pages newest first, a rateLimit query per
  page, a 2 s pause (slept as 2 / SCALE s);
- DevLake-like: 10-PR pages, one request in flight, no pacing; a secondary limit is waited out
  (retry-after, else a minute), a 502/504 retried.

- ours without threads (bench/without_threads.py): the same worker asking the page the
  product asked before issue 28 (reviews, comments, labels, commit count; 37-PR pages), no
  review threads or inline comments: the reference of the "whole conversation" row (issue 28's
  aim: not slower with them).

The ceiling: min(points bound, server-time bound). Points: the budget (5,000 an hour) times the
PRs one point buys when the complete data is walked (pages and follow-ups, threads' comments
included, GitHub's cost rule). Server time: an hour at 60 s per minute over the server time
per PR that the profile charges for this very data, complete (reviews, comments, threads and
their comments past the first 100 too), in the points-cheapest pages (walked once
in-process, no delays). The original and DevLake-like strategies never
page reviews or comments past 100, so they fetch less than the data and their figures are
flattered by that (their notes give their server time).

Usage: python bench/bench_pacing.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from bench_engine import cli_backfill, sim_stats, stored
from reference import PAUSE_SECONDS, run_reference
from support import figure, print_figures, scratch_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.github import GitHubClient  # noqa: E402
from core.github.queries import PR_FIELDS, PR_THREADS, best_page_size  # noqa: E402
from core.secrets import fingerprint  # noqa: E402
from core.simulator import RepoSpec, SimConfig, Simulator  # noqa: E402
from core.simulator.config import GITHUB_SERVER_SECONDS_PER_MINUTE, apply_profile  # noqa: E402
from core.simulator.process import simulator_process  # noqa: E402

SEED = 11
SCALE = 20.0
LIMIT = 5000
FULL = {"pace/alpha": 1000, "pace/beta": 1500, "pace/gamma": 1500}
QUICK = {"pace/alpha": 500, "pace/beta": 700}
ADD_TOKEN = "bench-pacing-add"
OURS_TOKEN = "bench-pacing-ours"
REFERENCE_TOKEN = "bench-pacing-reference"
DEVLAKE_TOKEN = "bench-pacing-devlake"
DEVLAKE_PAGE = 10

DEVLAKE_QUERY = (
    "query DevLakePage($owner: String!, $name: String!, $after: String) { "
    "repository(owner: $owner, name: $name) { "
    f"pullRequests(first: {DEVLAKE_PAGE}, after: $after, "
    "orderBy: {field: CREATED_AT, direction: ASC}) { "
    "totalCount pageInfo { endCursor hasNextPage } "
    f"nodes {{ {PR_FIELDS.replace(' ' + PR_THREADS, '')} }} }} }} }}"
)
WITHOUT_THREADS = ("bench/without_threads.py",)


def sim_args() -> list[str]:
    return ["--seed", str(SEED), "--profile", "github", "--time-scale", f"{SCALE:g}"]


def token_figures(stats: dict[str, Any], token: str, prs: int) -> dict[str, Any]:
    entry = stats["tokens"][fingerprint(token)]
    span = entry["span_seconds"]
    return {
        "prs": prs,
        "span_seconds": span,  # GitHub's
        "prs_per_hour": prs * 3600 / span,
        "server_seconds": entry["server_seconds"],
        "peak_minute": entry["server_seconds_peak_minute"],
        "secondary": len(entry["secondary_at"]),
        "timeouts": stats["outcomes"].get("timeout", 0),
        "points": entry["points_used"],
    }


def ceiling(repos: dict[str, int]) -> dict[str, Any]:
    """The profile's own bound for this data: the server time it charges per PR when the
    complete data (reviews and comments past 100 included) is fetched in the points-cheapest
    37-PR pages by the product's queries, walked once in-process without limits or delays."""
    config = apply_profile(
        SimConfig(repos=[RepoSpec.parse(f"{r}:{n}") for r, n in repos.items()], seed=SEED),
        "github",
    )
    config.cpu_seconds_per_minute = None  # pricing only: no limits, no delays
    config.serve_server_time = False
    sim = Simulator(config)
    page = best_page_size()

    async def walk() -> int:
        count = 0
        async with GitHubClient(
            "price", "http://github.sim/graphql", transport=sim.transport()
        ) as client:
            for repo in repos:
                owner, name = repo.split("/")
                after = None
                while True:
                    got = await client.fetch_pull_requests_page(
                        owner, name, after=after, page_size=page
                    )
                    count += len(got.pull_requests)
                    if not got.has_next_page:
                        break
                    after = got.end_cursor
        return count

    prs = asyncio.run(walk())
    spent = sim.stats()["tokens"][fingerprint("price")]
    seconds = spent["server_seconds"]
    per_pr = seconds / prs
    server_bound = 3600 * GITHUB_SERVER_SECONDS_PER_MINUTE / 60 / per_pr
    # Points: what this walk paid per PR, follow-ups included (threads' comments cost a
    # request each beside the page's NESTED_PER_PR a PR).
    points_bound = LIMIT * prs / max(1, spent["points_used"])
    return {
        "seconds_per_pr": per_pr,
        "server_bound": server_bound,
        "points_bound": points_bound,
        "ceiling": min(server_bound, points_bound),
        "page": page,
    }


def run_ours(repos: dict[str, int], threads: bool = True) -> dict[str, Any]:
    """Our worker on the profile; `threads` False: the page without review threads."""
    entry = {} if threads else {"entry": WITHOUT_THREADS}
    with (
        scratch_database("bench_pacing") as url,
        simulator_process([f"{r}:{n}" for r, n in repos.items()], *sim_args()) as (base, _),
    ):
        cli_backfill(
            url,
            base,
            repos,
            token=OURS_TOKEN,
            add_token=ADD_TOKEN,
            GITHUB_SERVER_TIME_WINDOW=f"{60 / SCALE:g}",
            **entry,  # type: ignore[arg-type]
        )
        stats = sim_stats(base)
        counts = stored(url, stats)
        figures = token_figures(stats, OURS_TOKEN, counts["pull_requests"])
        with psycopg.connect(url) as conn:
            for table in ("review_threads", "review_comments"):
                figures[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        expected = sum(stats["review_threads"].values()) if threads else 0
        if figures["review_threads"] != expected:
            raise RuntimeError(f"stored {figures['review_threads']} threads, not {expected}")
    return figures


def run_original(repos: dict[str, int]) -> dict[str, Any]:
    with simulator_process([f"{r}:{n}" for r, n in repos.items()], *sim_args()) as (base, _):
        result = asyncio.run(
            run_reference(
                f"{base}/graphql",
                REFERENCE_TOKEN,
                [tuple(r.split("/", 1)) for r in repos],  # type: ignore[misc]
                pause_scale=1 / SCALE,
            )
        )
        stats = sim_stats(base)
    figures = token_figures(stats, REFERENCE_TOKEN, result.prs)
    figures["stopped_on_low_budget"] = result.stopped_on_low_budget
    return figures


async def devlake_like(url: str, token: str, repos: list[str]) -> tuple[int, int]:
    """10-PR pages, one request in flight, no pacing. Returns (PRs, waits)."""
    prs = waits = 0
    async with httpx.AsyncClient(headers={"authorization": f"bearer {token}"}, timeout=60) as http:
        for repo in repos:
            owner, name = repo.split("/")
            after = None
            while True:
                response = await http.post(
                    url,
                    json={
                        "query": DEVLAKE_QUERY,
                        "variables": {"owner": owner, "name": name, "after": after},
                    },
                )
                payload = response.json() if response.content else {}
                if "secondary rate limit" in str(payload.get("message", "")):
                    waits += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", 60 / SCALE)))
                    continue
                if response.status_code in (502, 504):
                    continue
                connection = payload["data"]["repository"]["pullRequests"]
                prs += len(connection["nodes"])
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                after = connection["pageInfo"]["endCursor"]
    return prs, waits


def run_devlake(repos: dict[str, int]) -> dict[str, Any]:
    with simulator_process([f"{r}:{n}" for r, n in repos.items()], *sim_args()) as (base, _):
        prs, waits = asyncio.run(devlake_like(f"{base}/graphql", DEVLAKE_TOKEN, list(repos)))
        stats = sim_stats(base)
    figures = token_figures(stats, DEVLAKE_TOKEN, prs)
    figures["waits"] = waits
    return figures


def measure(quick: bool) -> dict[str, Any]:
    repos = QUICK if quick else FULL
    started = time.perf_counter()
    result = {
        "repos": repos,
        "scale": SCALE,
        "ceiling": ceiling(repos),
        "ours": run_ours(repos),
        "ours_without_threads": run_ours(repos, threads=False),
        "original": run_original(repos),
        "devlake": run_devlake(repos),
    }
    result["seconds"] = time.perf_counter() - started
    return result


def rows(m: dict[str, Any]) -> list[dict]:
    c = m["ceiling"]
    total = sum(m["repos"].values())
    size = f"{len(m['repos'])} repositories, {total:,} rich PRs, time scale {m['scale']:g}"
    reference = (
        f"the profile's ceiling: min(points {c['points_bound']:,.0f}, server time "
        f"{c['server_bound']:,.0f}) PRs/h"
    )
    ours, original, devlake = m["ours"], m["original"], m["devlake"]
    bare = m["ours_without_threads"]

    def detail(name: str, f: dict[str, Any]) -> str:
        return (
            f"{name}: {f['prs']:,} PRs in {f['span_seconds']:,.0f} s of GitHub time, "
            f"{f['server_seconds']:,.0f} s of server time (peak {f['peak_minute']:.1f} s in a "
            f"minute), {f['secondary']} secondary-limit answers, {f['timeouts']} 502/504, "
            f"{f['points']} points"
        )

    ceiling_note = (
        f"Ceiling: {c['seconds_per_pr'] * 1000:.0f} ms of server time per PR for this data "
        f"in {c['page']}-PR pages (the points-cheapest page), 60 s per minute; points: "
        f"{LIMIT:,} an hour x the PRs a point bought in that walk. "
    )
    ahead = ours["prs_per_hour"] > max(original["prs_per_hour"], devlake["prs_per_hour"])
    return [
        figure(
            "pacing (issue 16)",
            f"PRs per hour per token, ours, github profile ({size})",
            ours["prs_per_hour"],
            "PRs/h",
            reference,
            c["ceiling"],
            ">= 85% of the ceiling and ahead of both strategies below",
            ours["prs_per_hour"] >= 0.85 * c["ceiling"] and ahead,
            ceiling_note + detail("ours (one worker process, 2 slots, paced)", ours),
        ),
        figure(
            "pacing (issue 16)",
            "PRs per hour per token, original strategy (25 newest-first, rateLimit query, "
            "2 s pause), same data",
            original["prs_per_hour"],
            "PRs/h",
            reference,
            c["ceiling"],
            "a ratio (ours must be ahead)",
            None,
            detail("original", original) + f"; pause slept as {PAUSE_SECONDS:g} s / {m['scale']:g}",
        ),
        figure(
            "pacing (issue 16)",
            "PRs per hour per token, DevLake-like (10-PR pages, one in flight), same data",
            devlake["prs_per_hour"],
            "PRs/h",
            reference,
            c["ceiling"],
            "a ratio (ours must be ahead)",
            None,
            detail("DevLake-like", devlake) + f"; {devlake['waits']} secondary-limit waits",
        ),
        figure(
            "pacing (issue 28)",
            f"PRs per hour per token, ours with the whole conversation (review threads and "
            f"inline comments), github profile ({size})",
            ours["prs_per_hour"],
            "PRs/h",
            "ours without review threads (the page before issue 28), same data, same run",
            bare["prs_per_hour"],
            "not slower (ratio >= 1)",
            ours["prs_per_hour"] >= bare["prs_per_hour"],
            f"with: {ours['review_threads']:,} threads, {ours['review_comments']:,} inline "
            f"comments stored; " + detail("with", ours) + "; " + detail("without", bare),
        ),
    ]


def run(quick: bool) -> list[dict]:
    result = rows(measure(quick))
    print_figures(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    m = measure(args.quick)
    print(json.dumps({"benchmark": "pacing", **m}, default=str))
    print_figures(rows(m))


if __name__ == "__main__":
    main()
