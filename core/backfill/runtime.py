"""Wiring one process: settings -> a store and a GitHub client whose budget and waits are
written to the database for every other process and console to see."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from core.backfill.presence import Presence
from core.config import Settings
from core.errors import ConfigError
from core.github.client import GitHubClient
from core.github.credentials import Credential, Credentials, StaticToken, load_credentials
from core.github.pacing import ServerTimePacer
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
class Lane:
    """One credential's share of a process: its client (own budget, pacing, pre-flight check)
    and the presence that publishes that budget under the credential's fingerprint."""

    credential: Credential
    client: GitHubClient
    presence: Presence


@dataclass(frozen=True)
class Engine:
    """A process's store and GitHub access. `client`/`presence` are the first lane's (a
    single-token process has just that one); `lanes` has one per credential."""

    store: Store
    client: GitHubClient
    presence: Presence
    lanes: tuple[Lane, ...] = ()
    credentials: Credentials | None = None

    def __post_init__(self) -> None:
        if not self.lanes:
            lane = Lane(self.client.credential, self.client, self.presence)
            object.__setattr__(self, "lanes", (lane,))


def require_token(settings: Settings) -> SecretStr:
    if settings.github_token is None:
        raise ConfigError(
            "GITHUB_TOKEN is not set: create a token that can read the repositories "
            "(classic: repo or public_repo scope; fine-grained: Pull requests read) and export it"
        )
    return settings.github_token


def require_credentials(settings: Settings) -> None:
    """Some GitHub credential is configured (an App, GITHUB_TOKENS or GITHUB_TOKEN), checked
    before anything is opened; ConfigError otherwise."""
    if settings.github_app_id is None and not settings.github_token_list:
        require_token(settings)


@asynccontextmanager
async def open_lanes(
    settings: Settings,
    store: Store,
    credentials: Credentials,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_in_flight: int = 2,
) -> AsyncIterator[tuple[Lane, ...]]:
    """One client per credential, each with its own budget, pacer and published presence."""
    async with AsyncExitStack() as stack:
        lanes = []
        for credential in credentials.all:
            client, presence = await stack.enter_async_context(
                open_client(
                    settings,
                    store,
                    transport=transport,
                    max_in_flight=max_in_flight,
                    credential=credential,
                )
            )
            lanes.append(Lane(credential, client, presence))
        yield tuple(lanes)


@asynccontextmanager
async def open_client(
    settings: Settings,
    store: Store,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    max_in_flight: int = 2,
    credential: Credential | None = None,
) -> AsyncIterator[tuple[GitHubClient, Presence]]:
    """A GitHub client whose budget and waits are written to `store` for everyone to see.

    Without `credential`: GITHUB_TOKEN's, or the first of the configured credentials (an App's
    connections are then closed with the client)."""
    async with AsyncExitStack() as stack:
        if credential is None:
            if settings.github_app_id is None and not settings.github_token_list:
                credential = StaticToken(require_token(settings))
            else:
                loaded = await load_credentials(settings, transport=transport)
                stack.push_async_callback(loaded.aclose)
                credential = loaded.all[0]
        pacer = ServerTimePacer(
            settings.github_server_time_window, settings.github_server_time_budget
        )
        presence = Presence(store, credential.fingerprint, pacer=pacer, credential=credential)
        pacer.ledger = presence  # every request reserves its server time in the database first
        client = GitHubClient(
            url=settings.github_graphql_url,
            credential=credential,
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
    """The store and one client per configured credential (an App's installations, each of
    GITHUB_TOKENS, or GITHUB_TOKEN). The credentials are loaded (an App's first tokens minted)
    before the database is opened, so a refused App fails fast."""
    require_credentials(settings)  # before opening a database for nothing
    async with (
        await load_credentials(settings, transport=transport) as credentials,
        open_store(settings, max_size=store_max_size) as store,
        open_lanes(
            settings, store, credentials, transport=transport, max_in_flight=max_in_flight
        ) as lanes,
    ):
        first = lanes[0]
        yield Engine(store, first.client, first.presence, lanes, credentials)
