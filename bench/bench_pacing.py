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

The ceiling is priced twice, with the product's page and with the page without threads (the
same walk under `without_threads.threads_dropped`): the data with threads is bigger, so its
own ceiling is lower, and "not slower" is bounded by their ratio whatever the pacing does.
Each of ours is also given as a share of its own ceiling. Then the bound REST's share of
server time could at most add (`rest_bound`): review comments' contents moved to REST's
repository-wide listing (100 a request), GraphQL keeping threads and comment ids only; the
objects a review comment weighs in GraphQL are priced on the same simulator (a sample of
threads' comments asked with all their fields and with `id` alone).

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
from without_threads import threads_dropped

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.github import GitHubClient  # noqa: E402
from core.github.queries import (  # noqa: E402
    PR_FIELDS,
    PR_THREADS,
    REVIEW_COMMENT_NODE,
    best_page_size,
)
from core.secrets import fingerprint  # noqa: E402
from core.simulator import RepoSpec, SimConfig, Simulator  # noqa: E402
from core.simulator.config import (  # noqa: E402
    GITHUB_SERVER_MS_BASE,
    GITHUB_SERVER_MS_PER_NODE,
    GITHUB_SERVER_SECONDS_PER_MINUTE,
    apply_profile,
)
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
# GitHub's secondary limit: 90 s of server time a minute, of which at most 60 s GraphQL, so
# REST has 30 s a minute beside a GraphQL walk at its own 60 (docs.github.com/rest/
# using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits).
REST_SERVER_SECONDS_PER_MINUTE = 30.0
REST_REQUESTS_PER_HOUR = 5000
REST_PER_PAGE = 100
SAMPLE_THREADS = 50  # threads whose comments are priced with all fields and with ids alone

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


def pricing_simulator(repos: dict[str, int]) -> Simulator:
    """The bench's data on the `github` profile, in-process, for pricing only."""
    config = apply_profile(
        SimConfig(repos=[RepoSpec.parse(f"{r}:{n}") for r, n in repos.items()], seed=SEED),
        "github",
    )
    config.cpu_seconds_per_minute = None  # pricing only: no limits, no delays
    config.serve_server_time = False
    return Simulator(config)


def ceiling(repos: dict[str, int], threads: bool = True) -> dict[str, Any]:
    """The profile's own bound for this data: the server time it charges per PR when the
    complete data (reviews and comments past 100 included) is fetched in the points-cheapest
    pages by the product's queries, walked once in-process without limits or delays.
    `threads` False: the page without review threads (bench/without_threads.py), priced the
    same way. With threads, also `objects_per_review_comment` (see `review_comment_objects`)."""
    if not threads:
        with threads_dropped():
            return ceiling(repos) | {"threads": False}
    sim = pricing_simulator(repos)
    page = best_page_size()
    sample: list[str] = []  # thread ids, for review_comment_objects

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
                    for pr in got.pull_requests:
                        for t in pr.review_threads or ():
                            if t.comments and len(sample) < SAMPLE_THREADS:
                                sample.append(t.github_id)
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
    totals = sim.stats()
    result = {
        "threads": True,
        "prs": prs,
        "server_seconds": seconds,
        "requests": spent["requests"],
        "points": spent["points_used"],
        "review_threads": sum(totals["review_threads"].values()),
        "review_comments": sum(totals["review_comments"].values()),
        "seconds_per_pr": per_pr,
        "server_bound": server_bound,
        "points_bound": points_bound,
        "ceiling": min(server_bound, points_bound),
        "page": page,
    }
    if sample:
        result["objects_per_review_comment"] = review_comment_objects(sim, sample)
    return result


def review_comment_objects(sim: Simulator, thread_ids: list[str]) -> dict[str, float]:
    """What one review comment weighs in GraphQL on the profile: the threads' comments asked
    in one query with the product's fields and in another with `id` alone (same request,
    same connections), their server time apart over the comments they gave, in objects
    (GITHUB_SERVER_MS_PER_NODE each). Returns {comments, full, saved}: `full` the objects of
    a comment with all its fields (the node, its author, its review, the one it replies to),
    `saved` those that asking `id` alone leaves out (`full` - 1)."""

    def query(fields: str) -> str:
        aliases = " ".join(
            f"t{i}: node(id: {json.dumps(tid)}) {{ ... on PullRequestReviewThread {{ "
            f"comments(first: 100) {{ nodes {{ {fields} }} }} }} }}"
            for i, tid in enumerate(thread_ids)
        )
        return f"query PriceReviewComments {{ {aliases} }}"

    async def price(token: str, fields: str) -> tuple[float, int]:
        async with httpx.AsyncClient(
            transport=sim.transport(), headers={"authorization": f"bearer {token}"}
        ) as http:
            answer = await http.post("http://github.sim/graphql", json={"query": query(fields)})
            answer.raise_for_status()
            data = answer.json()["data"]
        comments = sum(len(node["comments"]["nodes"]) for node in data.values() if node)
        seconds = sim.stats()["tokens"][fingerprint(token)]["server_seconds"]
        return seconds, comments

    full, comments = asyncio.run(price("price-full", REVIEW_COMMENT_NODE))
    ids, _ = asyncio.run(price("price-ids", "id"))
    saved = (full - ids) * 1000 / GITHUB_SERVER_MS_PER_NODE / max(1, comments)
    return {"comments": comments, "full": saved + 1, "saved": saved}


def rest_bound(with_threads: dict[str, Any]) -> dict[str, Any]:
    """PRs per hour per token at most if review comments' contents came by REST: GraphQL
    carries the page with threads and each comment's id alone (its other objects' server time
    off the measured with-threads walk), REST lists the contents repository-wide, 100 a
    request, at the same server time per object and per request as GraphQL's
    (GITHUB_SERVER_MS_BASE a request + GITHUB_SERVER_MS_PER_NODE an object), within REST's
    30 s a minute and its 5,000 requests an hour (no reserve, nothing else spending them).
    The least of the bounds binds (`binds` names it)."""
    c = with_threads
    per_pr = c["review_comments"] / c["prs"]
    weight = c["objects_per_review_comment"]
    node = GITHUB_SERVER_MS_PER_NODE / 1000
    graphql_per_pr = c["seconds_per_pr"] - per_pr * weight["saved"] * node
    rest_per_pr = per_pr * weight["full"] * node + per_pr / REST_PER_PAGE * (
        GITHUB_SERVER_MS_BASE / 1000
    )
    bounds = {
        "graphql server time": 60 * GITHUB_SERVER_SECONDS_PER_MINUTE / graphql_per_pr,
        "graphql points": c["points_bound"],
        "rest server time": 60 * REST_SERVER_SECONDS_PER_MINUTE / rest_per_pr,
        "rest requests": REST_REQUESTS_PER_HOUR * REST_PER_PAGE / per_pr,
    }
    binds = min(bounds, key=lambda k: bounds[k])
    return {
        "review_comments_per_pr": per_pr,
        "graphql_seconds_per_pr": graphql_per_pr,
        "rest_seconds_per_pr": rest_per_pr,
        "bounds": bounds,
        "binds": binds,
        "ceiling": bounds[binds],
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
        "ceiling_without_threads": ceiling(repos, threads=False),
        "ours": run_ours(repos),
        "ours_without_threads": run_ours(repos, threads=False),
        "original": run_original(repos),
        "devlake": run_devlake(repos),
    }
    if "objects_per_review_comment" in result["ceiling"]:
        result["rest_bound"] = rest_bound(result["ceiling"])
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

    detail = detail_of

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
        *conversation_rows(m, size),
    ]


def conversation_rows(m: dict[str, Any], size: str) -> list[dict]:
    """Issue 28's rows: ours with the whole conversation against ours without threads; each
    against its own ceiling; the two ceilings' ratio (the data's own bound on the first
    ratio); the bound with review comments' contents by REST."""
    c, bare_c = m["ceiling"], m["ceiling_without_threads"]
    ours, bare = m["ours"], m["ours_without_threads"]
    limit = c["ceiling"] / bare_c["ceiling"]

    def share(f: dict[str, Any], of: dict[str, Any]) -> str:
        return f"{f['prs_per_hour'] / of['ceiling']:.0%} of its ceiling ({of['ceiling']:,.0f})"

    def priced(of: dict[str, Any]) -> str:
        return (
            f"{of['seconds_per_pr'] * 1000:.0f} ms of server time per PR in {of['page']}-PR "
            f"pages ({of['requests']:,} requests, {of['points']:,} points for {of['prs']:,} PRs)"
        )

    rows = [
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
            f"the data's own bound on this ratio: the ceilings' {limit:.2f} (next rows); "
            f"with: {share(ours, c)}, {ours['review_threads']:,} threads, "
            f"{ours['review_comments']:,} inline comments stored; without: {share(bare, bare_c)}"
            f". " + detail_of("with", ours) + "; " + detail_of("without", bare),
        ),
        figure(
            "pacing (issue 28)",
            f"PRs per hour per token, ours without review threads (the page before issue 28), "
            f"github profile ({size})",
            bare["prs_per_hour"],
            "PRs/h",
            "the profile's ceiling for the page without threads (server time)",
            bare_c["ceiling"],
            "a ratio (ours with threads: row above and issue 16's share of its ceiling)",
            None,
            f"Ceiling without threads: {priced(bare_c)}; points bound "
            f"{bare_c['points_bound']:,.0f} PRs/h",
        ),
        figure(
            "pacing (issue 28)",
            "the profile's ceiling with the whole conversation (server time per PR, 60 s a minute)",
            c["ceiling"],
            "PRs/h",
            "the same without review threads",
            bare_c["ceiling"],
            "none: the bound of 'not slower' by GraphQL alone",
            None,
            f"with: {priced(c)}; without: {priced(bare_c)}. The data is bigger: "
            f"{c['review_threads']:,} threads and {c['review_comments']:,} inline comments "
            f"for {c['prs']:,} PRs",
        ),
    ]
    bound = m.get("rest_bound")
    if bound:
        weight = c["objects_per_review_comment"]
        bounds = ", ".join(f"{k} {v:,.0f}" for k, v in bound["bounds"].items())
        rows.append(
            figure(
                "pacing (issue 28)",
                "bound: PRs per hour per token with review comments' contents by REST "
                "(GraphQL: threads + comment ids), computed, not measured",
                bound["ceiling"],
                "PRs/h",
                "the profile's ceiling without review threads",
                bare_c["ceiling"],
                "a bound: what REST's 30 s a minute could at most add",
                None,
                f"min({bounds}) PRs/h, {bound['binds']} binds; "
                f"{bound['review_comments_per_pr']:.2f} inline comments a PR, each "
                f"{weight['full']:.2f} objects in GraphQL ({weight['saved']:.2f} left out when "
                f"asking its id alone; {weight['comments']} comments of {SAMPLE_THREADS} threads "
                f"priced); GraphQL {bound['graphql_seconds_per_pr'] * 1000:.0f} ms a PR, REST "
                f"{bound['rest_seconds_per_pr'] * 1000:.1f} ms a PR at the same 2 ms an object "
                f"and 0.5 s a 100-comment request",
            )
        )
    return rows


def detail_of(name: str, f: dict[str, Any]) -> str:
    return (
        f"{name}: {f['prs']:,} PRs in {f['span_seconds']:,.0f} s of GitHub time, "
        f"{f['server_seconds']:,.0f} s of server time (peak {f['peak_minute']:.1f} s in a "
        f"minute), {f['secondary']} secondary-limit answers, {f['timeouts']} 502/504, "
        f"{f['points']} points"
    )


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
