"""Budget tracking against the simulator's ground truth; pre-flight; waiting for the reset."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from core.github import GitHubClient, RateLimitedError
from core.github.queries import COUNT_QUERY
from core.simulator import RepoSpec, SimConfig, Simulator, serve
from tests.support.github_sim import SIM_URL, TOKEN, backfill, make_sim, sim_client

# 1 + 100 * 3 requests = 3 points: a query pricier than a page, so costs vary.
THREE_POINTS = (
    'query Pricey { repository(owner: "octo", name: "big") { pullRequests(first: 100) { '
    "nodes { reviews(first: 1) { totalCount } comments(first: 1) { totalCount } "
    "labels(first: 1) { totalCount } } } } rateLimit { cost remaining limit used resetAt } }"
)

# 1 + 100 * 19 requests = 19 points.
NINETEEN_POINTS = (
    'query Burn { repository(owner: "octo", name: "big") { pullRequests(first: 100) { nodes { '
    + " ".join(f"r{i}: reviews(first: 1) {{ totalCount }}" for i in range(19))
    + " } } } }"
)


async def test_metrics_equal_simulator_ground_truth_after_a_mixed_run(clock):
    sim = make_sim(clock, prs=100, seed=3)
    published = []
    with serve(sim) as base_url:
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", clock=clock, on_rate_limit=published.append
        ) as client:
            await client.repository_pull_request_count("octo", "big")
            await backfill(client, page_size=37)
            for _ in range(3):
                await client.execute(THREE_POINTS)
            metrics = client.metrics
    truth = next(iter(sim.stats()["tokens"].values()))
    charged = truth["requests"] - 1  # the one rateLimit(dryRun: true) is free
    assert metrics.remaining == truth["remaining"]
    assert metrics.used == truth["points_used"] == truth["limit"] - truth["remaining"]
    assert metrics.limit == truth["limit"]
    assert metrics.average_cost_per_query == round(truth["points_used"] / charged, 2)
    assert metrics.estimated_queries_remaining == int(
        truth["remaining"] // (truth["points_used"] / charged)
    )
    assert metrics.last_cost == 3
    assert metrics.percentage_used == round(truth["points_used"] / truth["limit"] * 100, 2)
    assert published[-1] == metrics  # the engine persisted the latest snapshot
    dumped = metrics.model_dump(by_alias=True)
    assert {"percentageUsed", "averageCostPerQuery", "estimatedQueriesRemaining"} <= set(dumped)
    assert dumped["resetAt"].tzinfo is not None


async def test_preflight_refuses_without_sending(clock):
    sim = make_sim(clock, limit=600)
    async with GitHubClient(
        TOKEN, SIM_URL, transport=sim.transport(), clock=clock, wait_on_rate_limit=False
    ) as client:
        sent = 0
        with pytest.raises(RateLimitedError) as caught:
            while True:
                sent = sim.stats()["requests"]
                await client.execute(COUNT_QUERY, {"owner": "octo", "name": "big"})
        assert sim.stats()["requests"] == sent  # the refused query never left
        metrics = client.metrics
    error = caught.value
    assert error.type == "RATE_LIMITED"
    assert metrics.remaining == 500 and metrics.used == 100
    assert error.reset_at == metrics.reset_at and error.reset_at.tzinfo is not None
    assert error.wait_time == int((metrics.reset_at.timestamp() - clock.now) * 1000)
    # the explicit check does not send either, and honours its own reserve
    before = sim.stats()["requests"]
    with pytest.raises(RateLimitedError):
        await client.check_rate_limit_before_query(1, min_remaining=500)
    await client.check_rate_limit_before_query(1, min_remaining=0)
    assert sim.stats()["requests"] == before


async def test_budget_600_reserve_500_waits_for_the_reset_and_carries_on(clock):
    sim = make_sim(clock, prs=300, seed=4, limit=600)
    waits: list[tuple] = []
    with serve(sim) as base_url:
        # another process on the same token has spent 95 points
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", clock=clock, min_remaining=0, sleep=clock.sleep
        ) as other:
            for _ in range(5):
                await other.execute(NINETEEN_POINTS)
            assert other.metrics.remaining == 505

        async def on_wait(until, reason):
            waits.append((until, reason, sim.stats()["requests"]))

        async def sleep(seconds: float) -> None:
            # nothing may be sent while the budget is short
            assert sim.stats()["requests"] == waits[-1][2]
            await clock.sleep(seconds)

        async with GitHubClient(
            TOKEN,
            f"{base_url}/graphql",
            clock=clock,
            min_remaining=500,
            on_wait=on_wait,
            sleep=sleep,
        ) as client:
            prs, _ = await backfill(client, page_size=37)
            assert client.metrics.remaining > 500  # a new window
    assert len(prs) == 300 == len({p.number for p in prs})
    assert len(waits) == 1
    until, reason, _ = waits[0]
    assert reason == "GraphQL budget"
    assert clock.sleeps == [pytest.approx(until.timestamp() - (clock.now - clock.sleeps[0]))]
    window_end = sim.budgets.tokens[TOKEN].window_start  # the new window opened after the wait
    assert window_end >= until.timestamp() - 1 - 1e-6
    assert until - timedelta(seconds=1) <= client.metrics.reset_at


async def test_github_clock_hours_ahead_is_read_from_date_and_the_wait_is_one_window(clock):
    """GitHub's clock three hours ahead of ours makes every `resetAt` look 3 h + the window
    away on our clock. Each answer's `Date` header shows the offset, so the client reasons on
    GitHub's clock: the reset is a window away, the pre-flight check and the wait end then
    (not 3 h later, and never early), and the next answer is GitHub's new window."""
    ahead = 3 * 3600.0
    sim = Simulator(
        SimConfig(
            repos=[RepoSpec("octo", "big", prs=300)],
            seed=5,
            limit=60,
            window_seconds=3600,
            clock=lambda: clock() + ahead,
        )
    )
    waits: list[datetime] = []
    async with sim_client(
        sim, clock, min_remaining=0, on_wait=lambda until, reason: waits.append(until)
    ) as client:
        for _ in range(3):  # 57 of 60 points
            await client.execute(NINETEEN_POINTS)
        sent_at = clock.now
        # What a worker waits on before reserving a chunk (core.backfill.worker).
        with pytest.raises(RateLimitedError) as caught:
            await client.check_rate_limit_before_query(19)
        # GitHub's reset, on GitHub's clock: a window after its first answer
        assert caught.value.reset_at.timestamp() == sent_at + ahead + 3600
        assert client.metrics.reset_at == caught.value.reset_at
        await client.execute(NINETEEN_POINTS)  # needs the next window
        assert client.metrics.remaining == 60 - 19  # GitHub's new window, learnt afresh
    assert clock.sleeps == [3601.0]  # until the reset + the usual 1 s margin, not 3 h more
    assert [until.timestamp() for until in waits] == [clock.now + ahead]
    assert sim.stats()["outcomes"].get("rate_limited", 0) == 0


async def test_server_side_rate_limit_both_spellings_then_wait(clock):
    variables = {"owner": "octo", "name": "big"}
    for style in ("classic", "new"):
        sim = make_sim(clock, limit=50, rate_limit_style=style)

        def client(sim=sim, **kw):
            return sim_client(sim, clock, min_remaining=0, **kw)

        async with (
            client(wait_on_rate_limit=False) as raising,
            client() as waiting,
            client() as other,
        ):
            await raising.execute(COUNT_QUERY, variables)  # both learn: plenty left
            await waiting.execute(COUNT_QUERY, variables)
            while other.metrics is None or other.metrics.remaining > 0:
                await other.execute(COUNT_QUERY, variables)  # budget gone behind their backs
            before = sim.stats()["requests"]
            with pytest.raises(RateLimitedError) as caught:
                await raising.execute(COUNT_QUERY, variables)
            assert sim.stats()["requests"] == before + 1  # GitHub answered RATE_LIMITED once
            reset = caught.value.reset_at
            assert reset.timestamp() > clock.now and caught.value.wait_time > 0
            slept = len(clock.sleeps)
            data = await waiting.execute(COUNT_QUERY, variables)  # waits for the reset, goes on
            assert data["repository"]["pullRequests"]["totalCount"] == 120
            assert len(clock.sleeps) == slept + 1
            assert clock.now >= reset.timestamp() + 1
            assert sim.stats()["requests"] == before + 3
            assert sim.stats()["outcomes"]["rate_limited"] == 2


async def test_in_flight_cap_keeps_workers_under_the_concurrency_limit():
    # real clock: the simulator measures overlap on it; 40 ms latency makes requests overlap
    outcomes = {}
    for cap in (2, 3):
        sim = make_sim(time.time, max_concurrent=2, latency_ms=40, secondary_retry_after=1)
        slept = []

        async def sleep(seconds: float, slept=slept) -> None:
            slept.append(seconds)

        async with GitHubClient(
            TOKEN, SIM_URL, transport=sim.transport(), max_in_flight=cap, sleep=sleep
        ) as client:
            results = await asyncio.gather(
                *(client.execute(COUNT_QUERY, {"owner": "octo", "name": "big"}) for _ in range(6)),
                return_exceptions=True,
            )
        if cap == 2:
            assert not [r for r in results if isinstance(r, BaseException)]
        outcomes[cap] = sim.stats()["outcomes"].get("secondary:concurrency", 0)
    assert outcomes[2] == 0
    assert outcomes[3] > 0  # the check can fail: a looser cap trips GitHub's limit
