"""REST's budget treated as GraphQL's: the reserve is kept (a visible wait for the reset),
secondary limits are waited out for `retry-after`, a 304 is free, pages follow `Link`."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from core.github.credentials import StaticToken
from core.github.errors import SecondaryRateLimitError
from core.github.rest import RestClient, next_link
from core.simulator import Simulator
from tests.support.github_sim import TOKEN, FakeClock, make_sim

PATH = "/repos/octo/big/issues/comments"


def client(sim: Simulator, clock: FakeClock, **kw) -> RestClient:
    return RestClient(
        "https://sim",
        StaticToken(TOKEN),
        transport=sim.transport(),
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )


def stamp(n: int) -> str:
    return f"2020-01-01T00:00:{n:02d}Z"  # a different URL each time: no 304


async def test_the_reserve_is_kept_by_waiting_for_the_reset(clock: FakeClock) -> None:
    sim = make_sim(clock, prs=10, rest_limit=5)
    waits: list[tuple[datetime, str]] = []
    async with client(sim, clock, reserve=2, on_wait=lambda u, r: waits.append((u, r))) as rest:
        for n in range(6):
            await rest.get(rest.url(PATH, since=stamp(n)))
        assert len(waits) == 1 and "REST budget" in waits[0][1]
        assert clock.sleeps and clock.sleeps[0] == pytest.approx(3600, abs=2)
        assert rest.budget.resource == "core" and rest.budget.limit == 5
    assert sim.rest.counts["primary"] == 0  # never ran the budget dry


@pytest.mark.parametrize("status", [403, 429])
async def test_a_secondary_limit_is_waited_out_for_retry_after(
    clock: FakeClock, status: int
) -> None:
    sim = make_sim(clock, prs=10, rest_secondary_every=2, rest_secondary_status=status)
    async with client(sim, clock) as rest:
        await rest.get(rest.url(PATH, since=stamp(1)))
        page = await rest.get(rest.url(PATH, since=stamp(2)))
        assert page.items
    assert clock.sleeps == [1.0]
    assert sim.rest.counts["secondary"] == 1


async def test_a_secondary_limit_that_persists_is_raised(clock: FakeClock) -> None:
    sim = make_sim(clock, prs=10, rest_secondary_every=1)
    async with client(sim, clock, max_retries=2) as rest:
        with pytest.raises(SecondaryRateLimitError):
            await rest.get(rest.url(PATH))
    assert clock.sleeps == [1.0, 1.0]


async def test_a_conditional_request_answered_304_is_free(clock: FakeClock) -> None:
    sim = make_sim(clock, prs=10)
    async with client(sim, clock) as rest:
        first = await rest.get(rest.url(PATH))
        used = rest.budget.used
        again = await rest.get(rest.url(PATH))
        assert again.not_modified and not first.not_modified
        assert again.items == first.items
        assert rest.budget.used == used  # GitHub did not count it
        sim.evolve("octo/big", edit_comments=1)
        changed = await rest.get(rest.url(PATH))
        assert not changed.not_modified and rest.budget.used == used + 1
    assert sim.rest.counts["not_modified"] == 1


async def test_pages_follow_the_link_header_100_at_a_time(clock: FakeClock) -> None:
    sim = make_sim(clock, prs=120)
    bodies = sim.truth("octo/big", bodies=True)["bodies"]
    truth = {node for node in bodies if node.startswith("IC_")}  # conversation comments
    assert len(truth) > 300
    async with client(sim, clock) as rest:
        sizes, ids = [], []
        async for page in rest.pages(rest.url(PATH, sort="created", direction="asc")):
            sizes.append(len(page.items))
            ids += [c["node_id"] for c in page.items]
    assert set(ids) == set(truth) and len(ids) == len(truth)
    assert all(s == 100 for s in sizes[:-1]) and 0 < sizes[-1] <= 100


def test_next_link_reads_rel_next_only() -> None:
    header = '<https://x/a?page=2>; rel="next", <https://x/a?page=9>; rel="last"'
    assert next_link(header) == "https://x/a?page=2"
    assert next_link('<https://x/a?page=1>; rel="prev"') is None
    assert next_link(None) is None


class Ledger:
    """The token's shared server-time ledger, recording what it is asked."""

    def __init__(self) -> None:
        self.reserved: list[float] = []
        self.settled: list[int] = []

    async def reserve(
        self, seconds: float, *, window: float, budget: float, kill: float
    ) -> tuple[int | None, float]:
        self.reserved.append(seconds)
        return len(self.reserved), 0.0

    async def settle(self, reservation: int, seconds: float) -> None:
        self.settled.append(reservation)


async def test_rest_server_time_goes_through_the_tokens_shared_ledger(clock: FakeClock) -> None:
    from core.github.pacing import ServerTimePacer

    sim = make_sim(clock, prs=10)
    ledger = Ledger()
    pacer = ServerTimePacer(ledger=ledger)
    async with client(sim, clock, pacer=pacer) as rest:
        await rest.get(rest.url(PATH))
        await rest.get(rest.url(PATH))  # a 304 takes GitHub's time too
    assert len(ledger.reserved) == 2 and ledger.settled == [1, 2]


async def test_a_spent_budget_is_never_asked_again_at_once_even_when_its_reset_looks_past(
    clock: FakeClock,
) -> None:
    """GitHub's `x-ratelimit-reset` is whole seconds and its counter may reset a little after
    it: a 403 "rate limit exceeded" whose reset looks past must not be retried in the same
    instant (a loop of refused requests, which GitHub may answer by banning the token). As the
    GraphQL gate: never before the reset and at least a second on, at most `max_retries`
    times, then raised."""
    clock.now += 0.7  # the budget's true reset is .7 s past the whole second GitHub says
    sim = make_sim(clock, prs=10, rest_limit=2)
    guarded = Guarded(sim.transport(), most=20)  # a loop fails the test instead of hanging
    async with RestClient(
        "https://sim",
        StaticToken(TOKEN),
        transport=guarded,
        clock=clock,
        sleep=clock.sleep,
        reserve=0,
        max_retries=3,
    ) as rest:
        for n in range(2):
            await rest.get(rest.url(PATH, since=stamp(n)))
        clock.now += 3600 - 0.5  # past the reset GitHub said, before its counter's
        page = await rest.get(rest.url(PATH, since=stamp(3)))
        assert page.items
    assert sim.rest.counts["primary"] <= 2  # refused at most twice, never in a loop
    assert clock.sleeps and all(s >= 0.5 for s in clock.sleeps)


class Guarded(httpx.AsyncBaseTransport):
    """The simulator's transport, refusing past `most` requests (a loop's guard)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, most: int) -> None:
        self.inner, self.most, self.sent = inner, most, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        if self.sent > self.most:
            raise AssertionError(f"more than {self.most} requests: a loop")
        return await self.inner.handle_async_request(request)
