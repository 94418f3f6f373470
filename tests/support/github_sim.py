"""An in-process simulator behind a GitHub client on a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

from core.github import GitHubClient
from core.simulator import RepoSpec, SimConfig, Simulator

TOKEN = "test-token-SuperSecret-0123456789abcdef"  # distinctive, but not token-shaped


SIM_URL = "http://github.sim/graphql"


class FakeClock:
    """Shared by the simulator and the client; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_sim(clock: FakeClock, prs: int = 120, seed: int = 1, **overrides) -> Simulator:
    config = SimConfig(
        repos=[RepoSpec("octo", "big", prs=prs)], seed=seed, clock=clock, **overrides
    )
    return Simulator(config)


def sim_client(sim: Simulator, clock: FakeClock, **kw: Any) -> GitHubClient:
    """A client talking to `sim` in-process, on the shared fake clock."""
    return GitHubClient(
        TOKEN, SIM_URL, transport=sim.transport(), clock=clock, sleep=clock.sleep, **kw
    )


async def backfill(client, owner: str = "octo", name: str = "big", page_size: int = 37):
    """Walk every page like the engine does; returns all PRs and the pages' costs."""
    prs, costs, after = [], [], None
    while True:
        page = await client.fetch_pull_requests_page(owner, name, after=after, page_size=page_size)
        prs.extend(page.pull_requests)
        costs.append(page.cost)
        after = page.end_cursor
        if not page.has_next_page:
            return prs, costs


async def settle() -> None:
    """Let background tasks (a page fetched ahead) run: the in-process simulator answers at
    once, so a few turns of the event loop are enough."""
    for _ in range(50):
        await asyncio.sleep(0)
