"""The pacer with a shared ledger (the database's `reserve_server_time` in production): the
ledger's answer decides, the measured time settles the reservation, a ledger that cannot be
reached leaves the process pacing on its own view; and estimates follow the request's size.
A fake clock that sleeping moves: nothing here waits for real."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.github.pacing import ServerTimePacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Ledger:
    """Refuses the first `refusals` asks (retry after 2 s), then grants; records settles."""

    def __init__(self, refusals: int = 0, broken: bool = False) -> None:
        self.refusals = refusals
        self.broken = broken
        self.asked: list[float] = []
        self.settled: list[tuple[int, float]] = []

    async def reserve(
        self, seconds: float, *, window: float, budget: float, kill: float
    ) -> tuple[int | None, float]:
        if self.broken:
            raise ConnectionError("database down")
        self.asked.append(seconds)
        if len(self.asked) <= self.refusals:
            return None, 2.0
        return len(self.asked), 0.0

    async def settle(self, reservation: int, seconds: float) -> None:
        self.settled.append((reservation, seconds))


def test_the_ledger_decides_and_the_measured_time_settles_the_reservation() -> None:
    clock, ledger = Clock(), Ledger(refusals=2)
    pacer = ServerTimePacer(60, 54, clock=clock, sleep=clock.sleep, ledger=ledger)

    async def one() -> float:
        ticket = await pacer.acquire()
        clock.now += 3.0  # GitHub's answer takes 3 s
        return await pacer.finish(ticket)

    asked_at = clock.now
    assert asyncio.run(one()) == pytest.approx(3.0)
    assert clock.now - asked_at == pytest.approx(2 * 2.0 + 3.0)  # two refusals waited out
    assert ledger.asked == [pacer.target] * 3  # nothing known yet: the target
    assert ledger.settled == [(3, pytest.approx(3.0))]


def test_an_unreachable_ledger_leaves_the_process_pacing_on_its_own_view(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    pacer = ServerTimePacer(60, 10, clock=clock, sleep=clock.sleep, ledger=Ledger(broken=True))

    async def run() -> list[float]:
        starts = []
        for _ in range(4):
            ticket = await pacer.acquire(size=100)
            starts.append(clock.now)
            clock.now += 4.0
            await pacer.finish(ticket)
        return starts

    with caplog.at_level(logging.WARNING, logger="core.github"):
        starts = asyncio.run(run())
    # 4 s answers, 10 s of budget per 60 s: the third waits for the first to leave the window
    assert starts[2] - starts[0] >= 60
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_estimates_follow_the_size_of_the_request() -> None:
    """An answer takes a fixed part plus a part growing with its nodes, at the upper quartile
    of the rates of recent answers of a similar size: a rich page after small queries is not
    estimated at
    their time (two processes were admitted on the PR count's 1 s for 4 s pages, and passed
    the budget together), and a small query after pages is not estimated at a page's time
    (follow-ups held 4 s of room for 1 s answers)."""
    clock = Clock()
    pacer = ServerTimePacer(60, 54, clock=clock, sleep=clock.sleep)

    async def answer(size: int, seconds: float) -> None:
        ticket = await pacer.acquire(size)
        clock.now += seconds
        await pacer.finish(ticket)

    asyncio.run(answer(10, 1.0))  # the PR count
    assert pacer.estimate(11_000) == pacer.target  # nothing like a page seen yet
    asyncio.run(answer(5_500, 2.0))  # a page half the size: 1 s fixed + 1 s for its nodes
    assert pacer.estimate(11_000) == pytest.approx(3.0)  # the nodes' part doubles
    asyncio.run(answer(11_000, 4.5))
    # rates 2 and 3.5 s per 11,000 nodes: their upper quartile, 3.125
    assert pacer.estimate(11_000) == pytest.approx(1.0 + 3.125)
    assert pacer.estimate(9_000) == pytest.approx(1.0 + 3.125 * 9 / 11)
    assert pacer.estimate(10) == pytest.approx(1.0)  # a small query: small queries' time
    assert pacer.estimate(100) == pytest.approx(4.5)  # none like it: the slowest larger one


def test_one_slow_answer_does_not_hold_room_for_the_next_requests() -> None:
    """The rate is the upper quartile of the last 8 of a similar size, not the highest: one
    answer slowed by something other than GitHub (this process's event loop busy with another
    page, a loaded machine) made the next eight requests reserve its time, and requests in
    flight held that room unused (estimates 45% above the measured time at the median in the
    pacing bench). Slow answers that are more than one in four still raise it."""
    clock = Clock()
    ledger = Ledger()
    pacer = ServerTimePacer(60, 54, clock=clock, sleep=clock.sleep, ledger=ledger)

    async def answer(size: int, seconds: float) -> None:
        ticket = await pacer.acquire(size)
        clock.now += seconds
        await pacer.finish(ticket)

    asyncio.run(answer(10, 1.0))  # the fixed part: 1 s
    for seconds in (3.0, 3.0, 3.0, 7.0, 3.0, 3.0, 3.0, 3.0):  # one slow page among eight
        asyncio.run(answer(10_000, seconds))
    asyncio.run(answer(10_000, 3.0))
    assert ledger.asked[-1] == pytest.approx(3.0)  # reserved at its like's usual time, not 7
    assert pacer.estimate(10_000) == pytest.approx(3.0)
    asyncio.run(answer(10_000, 7.0))  # two slow of the last eight: the quartile moves up
    # rates 2 (x6) and 6 (x2) s per 10,000 nodes: rank 5.25 of 0..7 lies a quarter of the
    # way from 2 to 6
    assert pacer.estimate(10_000) == pytest.approx(1.0 + 3.0)
    asyncio.run(answer(10_000, 7.0))  # three of eight: the usual time is now the slow one
    assert pacer.estimate(10_000) == pytest.approx(7.0)
