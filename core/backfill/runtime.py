"""Wiring one process: settings -> a store and a GitHub client whose budget and waits are
written to the database for every other process and console to see."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from core.backfill.presence import Presence
from core.config import Settings
from core.errors import ConfigError
from core.github.client import GitHubClient
from core.github.pacing import ServerTimePacer
from core.secrets import fingerprint
from core.store import open_store
from core.store.store import Store

# Python's default (700, 10, 10) makes the cyclic collector re-scan the page being parsed
# every 700 allocations: a third to a half of a worker's CPU (bench pipeline, 10,000 PRs:
# 9-12 s of CPU with the default, ~6 s with this). GitHub's answers hold no cycles; reference
# counting frees them.
WORKER_GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """For a process that runs workers (CLI `worker`, `backfill`): collect cycles rarely."""
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


@dataclass(frozen=True)
class Engine:
    store: Store
    client: GitHubClient
    presence: Presence


def require_token(settings: Settings) -> SecretStr:
    if settings.github_token is None:
        raise ConfigError(
            "GITHUB_TOKEN is not set: create a token that can read the repositories "
            "(classic: repo or public_repo scope; fine-grained: Pull requests read) and export it"
        )
    return settings.github_token


@asynccontextmanager
async def open_client(
    settings: Settings,
    store: Store,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_in_flight: int = 2,
) -> AsyncIterator[tuple[GitHubClient, Presence]]:
    """A GitHub client whose budget and waits are written to `store` for everyone to see."""
    token = require_token(settings)
    pacer = ServerTimePacer(settings.github_server_time_window, settings.github_server_time_budget)
    presence = Presence(store, fingerprint(token), pacer=pacer)
    pacer.ledger = presence  # every request reserves its server time in the database first
    client = GitHubClient(
        token,
        settings.github_graphql_url,
        min_remaining=settings.min_graphql_points,
        max_in_flight=max_in_flight,
        transport=transport,
        on_rate_limit=presence.on_rate_limit,
        on_wait=presence.on_wait,
        pacer=pacer,
    )
    async with client:
        try:
            yield client, presence
        finally:
            await presence.flush()


@asynccontextmanager
async def open_engine(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_in_flight: int = 2,
    store_max_size: int = 10,
) -> AsyncIterator[Engine]:
    require_token(settings)  # before opening a database for nothing
    async with (
        open_store(settings, max_size=store_max_size) as store,
        open_client(settings, store, transport=transport, max_in_flight=max_in_flight) as (
            client,
            presence,
        ),
    ):
        yield Engine(store, client, presence)
