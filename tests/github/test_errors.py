"""Failure handling against the simulator: each failure retried as GitHub asks, never beyond the
bound, and mapped to its own error type. The token never leaks through any of it."""

from __future__ import annotations

import logging
import time
import traceback

import pytest

from core.github import (
    AuthenticationError,
    GitHubClient,
    RateLimitedError,
    RepositoryNotFound,
    ResourceLimitsExceeded,
    SecondaryRateLimitError,
    TransientError,
)
from core.github.queries import COUNT_QUERY
from core.simulator import FaultSpec, serve
from tests.support.github_sim import TOKEN, backfill, make_sim, sim_client

VARS = {"owner": "octo", "name": "big"}


async def test_secondary_limit_honours_retry_after_over_http(clock):
    sim = make_sim(clock, points_per_minute=3, secondary_retry_after=30)
    with serve(sim) as base_url:
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", clock=clock, sleep=clock.sleep
        ) as client:
            for _ in range(4):  # dry run + 2 queries fill the minute; the 4th is limited twice
                await client.execute(COUNT_QUERY, VARS)
    assert clock.sleeps == [30, 30]
    assert sim.stats()["outcomes"]["secondary:points_per_minute"] == 2


async def test_an_absurd_retry_after_is_waited_for_an_hour_at_most(clock):
    sim = make_sim(clock, points_per_minute=3, secondary_retry_after=1_000_000)
    async with sim_client(sim, clock) as client:
        for _ in range(4):  # the 4th is limited once, then the minute has long passed
            await client.execute(COUNT_QUERY, VARS)
    assert clock.sleeps == [3660]
    assert sim.stats()["outcomes"]["secondary:points_per_minute"] == 1


async def test_secondary_limit_without_retry_after_waits_a_minute_with_jitter(clock):
    sim = make_sim(clock, points_per_minute=3, secondary_retry_after=None)
    async with sim_client(sim, clock) as client:
        for _ in range(4):
            await client.execute(COUNT_QUERY, VARS)
    assert len(clock.sleeps) == 1 and 60 <= clock.sleeps[0] <= 75


async def test_secondary_limit_gives_up_after_the_bound(clock):
    sim = make_sim(clock, points_per_minute=3, secondary_retry_after=1)
    async with sim_client(sim, clock, max_retries=2) as client:
        for _ in range(2):
            await client.execute(COUNT_QUERY, VARS)
        with pytest.raises(SecondaryRateLimitError) as caught:
            await client.execute(COUNT_QUERY, VARS)
    assert caught.value.attempts == 3
    assert sim.stats()["outcomes"]["secondary:points_per_minute"] == 3


@pytest.mark.parametrize("fault", ["502", "504", "reset", "malformed"])
async def test_transient_failures_retry_with_backoff_then_ask_for_a_smaller_page(clock, fault):
    sim = make_sim(clock, faults=FaultSpec.parse(f"{fault}:1.0"))
    async with sim_client(sim, clock, max_retries=3) as client:
        with pytest.raises(TransientError) as caught:
            await client.execute(COUNT_QUERY, VARS)
    assert caught.value.shrink_page and caught.value.attempts == 4
    assert sim.stats()["requests"] == 4  # 1 try + 3 retries, not one more
    assert len(clock.sleeps) == 3
    for i, delay in enumerate(clock.sleeps):  # exponential with jitter
        assert 2**i <= delay <= 1.5 * 2**i


async def test_timeouts_over_http_are_bounded():
    sim = make_sim(time.time, faults=FaultSpec.parse("slow:1.0"), slow_seconds=0.4)
    slept = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    with serve(sim) as base_url:
        async with GitHubClient(
            TOKEN, f"{base_url}/graphql", timeout=0.1, max_retries=2, sleep=sleep
        ) as client:
            started = time.perf_counter()
            with pytest.raises(TransientError, match="timed out"):
                await client.execute(COUNT_QUERY, VARS)
            assert time.perf_counter() - started < 1.0
    assert len(slept) == 2
    assert sim.stats()["requests"] == 3


async def test_a_backfill_survives_bursts_of_faults_with_complete_data(clock):
    faults = FaultSpec.parse("502:0.2,504:0.1,reset:0.1,malformed:0.1")
    clean, noisy = make_sim(clock, prs=150, seed=8), make_sim(clock, prs=150, seed=8, faults=faults)
    async with sim_client(clean, clock) as a, sim_client(noisy, clock, max_retries=12) as b:
        expected, _ = await backfill(a)
        got, _ = await backfill(b)
    assert sum(noisy.stats()["faults"].values()) >= 5
    assert [p.model_dump() for p in got] == [p.model_dump() for p in expected]


async def test_resource_limits_exceeded_asks_for_a_smaller_page_without_blind_retry(clock):
    sim = make_sim(clock, faults=FaultSpec.parse("partial:1.0"))
    async with sim_client(sim, clock) as client:
        with pytest.raises(ResourceLimitsExceeded) as caught:
            await client.fetch_pull_requests_page("octo", "big", after=None, page_size=37)
    assert caught.value.shrink_page
    assert sim.stats()["requests"] == 2  # the free dry run, then the page once


async def test_bad_credentials_stop_at_once_over_http(clock):
    sim = make_sim(clock, revoked_tokens=frozenset({TOKEN}))
    with serve(sim) as base_url:
        async with GitHubClient(TOKEN, f"{base_url}/graphql", clock=clock) as client:
            with pytest.raises(AuthenticationError, match="GITHUB_TOKEN") as caught:
                await client.fetch_pull_requests_page("octo", "big", after=None, page_size=37)
    assert caught.value.fatal
    assert sim.stats()["requests"] == 1 and clock.sleeps == []


async def test_token_never_appears_in_logs_errors_or_reprs(clock, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    async def expect(exc_type, make_sim_kwargs, call, **client_kw):
        sim = make_sim(clock, **make_sim_kwargs)
        async with sim_client(sim, clock, **client_kw) as client:
            seen.extend([repr(client), str(client), client.token_fingerprint])
            with pytest.raises(exc_type) as caught:
                await call(client)
            if client.metrics is not None:
                seen.append(client.metrics.model_dump_json())
        error = caught.value
        seen.extend([str(error), repr(error), repr(vars(error))])
        seen.extend(traceback.format_exception(error))

    count = lambda c: c.execute(COUNT_QUERY, VARS)  # noqa: E731
    await expect(AuthenticationError, {"revoked_tokens": frozenset({TOKEN})}, count)
    await expect(TransientError, {"faults": FaultSpec.parse("502:1.0")}, count, max_retries=1)
    await expect(TransientError, {"faults": FaultSpec.parse("reset:1.0")}, count, max_retries=1)
    await expect(
        SecondaryRateLimitError,
        {"points_per_minute": 1, "secondary_retry_after": 1},
        count,
        max_retries=1,
    )
    await expect(RepositoryNotFound, {}, lambda c: c.repository_pull_request_count("x", "y"))

    async def twice(client):
        await count(client)
        await count(client)

    await expect(RateLimitedError, {"limit": 10}, twice, min_remaining=9, wait_on_rate_limit=False)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.append(caplog.text)
    assert any("sha256:" in text for text in seen)
    leaks = [text for text in seen if TOKEN in text or TOKEN[4:20] in text]
    assert leaks == []
