"""Pacing by server time: a sliding window of measured response times per token, shared by
every worker of the process (and, through the database, by other processes)."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.github import GitHubClient
from core.github.pacing import ServerTimePacer
from core.secrets import fingerprint
from core.simulator import RepoSpec, SimConfig, Simulator
from core.simulator.config import apply_profile
from tests.support.github_sim import SIM_URL, TOKEN


def peak(requests: list[tuple[float, float]], window: float) -> float:
    """The most response time started within any `window` (the way GitHub counts it)."""
    starts = sorted(requests)
    return max(sum(s for at, s in starts if t - window < at <= t) for t, _ in starts)


async def _hammer(pacer: ServerTimePacer, seconds: float, duration: float, tasks: int):
    done: list[tuple[float, float]] = []
    stop = time.monotonic() + duration

    async def one() -> None:
        while time.monotonic() < stop:
            ticket = await pacer.acquire()
            started = time.monotonic()
            await asyncio.sleep(seconds)
            done.append((started, pacer.release(ticket)))

    await asyncio.gather(*(one() for _ in range(tasks)))
    return done


def test_workers_sharing_a_pacer_stay_within_the_budget() -> None:
    """Four workers whose requests each take 50 ms, a 0.5 s window with 0.25 s of budget:
    together they never start more than the budget's worth of response time per window, and
    they use most of it."""
    pacer = ServerTimePacer(0.5, 0.25)
    done = asyncio.run(_hammer(pacer, 0.05, 2.0, tasks=4))
    assert peak(done, 0.5) <= 0.25 + 0.01
    assert sum(s for _, s in done) / 2.0 >= 0.6 * 0.25 / 0.5  # at least 60% of the budget used


def test_other_processes_usage_counts_against_the_budget() -> None:
    pacer = ServerTimePacer(0.5, 0.25)
    pacer.observe_remote(0.2)  # another process on the token used 0.2 s of this window
    published = time.monotonic()
    done = asyncio.run(_hammer(pacer, 0.05, 0.4, tasks=2))
    # Only what is left (less one request's room for the other) while that figure holds.
    assert len([at for at, _ in done if at < published + 0.45]) <= 1


def test_defaults_are_githubs_numbers_and_scale_with_the_window() -> None:
    pacer = ServerTimePacer()
    assert (pacer.window, pacer.budget, pacer.target) == (60.0, 54.0, 5.0)
    scaled = ServerTimePacer(3.0)  # a run 20 times faster than GitHub
    assert scaled.budget == pytest.approx(2.7) and scaled.target == pytest.approx(0.25)
    with pytest.raises(ValueError):
        ServerTimePacer(0)


def test_monitoring_counts_answers_over_target_and_prs_per_hour() -> None:
    now = [1000.0]
    pacer = ServerTimePacer(60, 54, clock=lambda: now[0])

    async def request(seconds: float) -> None:
        ticket = await pacer.acquire()
        now[0] += seconds
        pacer.release(ticket)

    asyncio.run(request(6.0))  # over the 5 s target
    asyncio.run(request(3.0))
    pacer.count("timeouts")
    pacer.count("secondary")
    pacer.count("prs", 74)
    snap = pacer.snapshot()
    assert (snap.over_target, snap.timeouts, snap.secondary, snap.prs) == (1, 1, 1, 74)
    assert snap.used_seconds == pytest.approx(9.0)
    assert snap.prs_per_hour == pytest.approx(74 * 3600 / 9.0, rel=0.01)
    now[0] += 3600  # an hour later, nothing is left of it
    snap = pacer.snapshot()
    assert (snap.over_target, snap.timeouts, snap.prs, snap.used_seconds) == (0, 0, 0, 0)


@pytest.mark.alone  # its server time is measured response time
def test_a_client_on_the_github_profile_never_provokes_the_secondary_limit() -> None:
    """Three concurrent page walks through one client, GitHub's server time 60 times faster:
    no secondary-limit answer, and the simulator never counted more than the budget."""
    scale = 60.0
    repos = [RepoSpec("octo", f"r{i}", 220) for i in range(3)]
    sim = Simulator(apply_profile(SimConfig(repos=repos, seed=3), "github", scale))
    pacer = ServerTimePacer(60 / scale, 54 / scale)
    slowest: list[float] = []

    async def walk(client: GitHubClient, name: str) -> int:
        after, count = None, 0
        while True:
            page = await client.fetch_pull_requests_page("octo", name, after=after, page_size=37)
            count += len(page.pull_requests)
            slowest.append(page.slowest_seconds)  # 0 for a page fetched ahead already
            if not page.has_next_page:
                return count
            after = page.end_cursor

    async def main() -> list[int]:
        async with GitHubClient(
            TOKEN, SIM_URL, transport=sim.transport(), pacer=pacer, max_in_flight=3
        ) as client:
            return await asyncio.gather(*(walk(client, r.name) for r in repos))

    assert asyncio.run(main()) == [220, 220, 220]
    stats = sim.stats()
    assert not [k for k in stats["outcomes"] if k.startswith("secondary")], stats["outcomes"]
    token = stats["tokens"][fingerprint(TOKEN)]
    assert token["server_seconds_peak_minute"] <= 54.0
    assert pacer.snapshot().prs == 660
    # measured: GitHub's seconds scaled, plus this process's own time (it only overestimates)
    assert max(slowest) > 1.0 / scale
