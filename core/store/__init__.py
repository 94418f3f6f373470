"""Choosing and opening the store the settings point at.

| settings                                    | store                                   |
|---------------------------------------------|-----------------------------------------|
| `DATABASE_URL`                              | psycopg against that Postgres           |
| `SUPABASE_URL` + `SUPABASE_SERVICE_KEY`     | supabase-py against the REST API        |
| neither                                     | psycopg against the embedded Postgres   |
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from core.config import Backend, Settings, supabase_url_setting
from core.embedded import embedded_database_url
from core.errors import ConfigError, ConnectionDropped, ServerNotListening, StoreUnavailable
from core.store.postgres import PostgresTransport, unavailable
from core.store.refusals import raise_refusal
from core.store.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "Store",
    "connect_postgres",
    "open_store",
    "postgres_store",
    "postgres_url",
    "supabase_store",
]


def postgres_url(settings: Settings) -> tuple[str, str]:
    """The libpq URL to use and the setting it came from (for error messages)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), "DATABASE_URL"
    if settings.backend is Backend.EMBEDDED:
        return embedded_database_url(settings.data_dir), "the embedded database"
    raise ConfigError(
        "migrations need a direct Postgres connection, and SUPABASE_URL with "
        "SUPABASE_SERVICE_KEY only reach the REST API, which cannot run DDL: set DATABASE_URL "
        "to the project's connection string (Project Settings > Database) and run this again, "
        "or push migrations/ with `supabase db push`"
    )


async def postgres_store(
    conninfo: str, *, setting: str = "DATABASE_URL", max_size: int = 10
) -> Store:
    """A store over psycopg on `conninfo` (`setting` names where it came from, for messages)."""
    return Store(await PostgresTransport.connect(conninfo, setting=setting, max_size=max_size))


async def supabase_store(
    url: str, service_key: str, *, max_connections: int = 10, url_setting: str = "SUPABASE_URL"
) -> Store:
    """A store over Supabase's REST API, checked with one cheap call before it is returned.

    Raises `ConfigError` (wrong URL or key) or `StoreUnavailable` (unreachable, schema behind).
    """
    from core.store.supabase import SupabaseTransport  # supabase-py takes 0.3 s to import

    store = Store(
        await SupabaseTransport.connect(
            url, service_key, max_connections=max_connections, url_setting=url_setting
        )
    )
    try:
        await store.work_summary(only=[])
    except BaseException:
        await store.close()
        raise
    return store


# How long opening the store keeps trying while the server restarts (a restart or a failover
# takes seconds): a worker started by cron at that moment must not die of it. Any other
# refusal (wrong password, host, port, database) fails at once.
OPEN_GRACE_SECONDS = 30.0


async def connect_postgres(
    settings: Settings, *, max_size: int = 10, grace: float = OPEN_GRACE_SECONDS
) -> Store:
    """A psycopg store; the embedded database is migrated on the way, others are checked.

    Tries again for OPEN_GRACE_SECONDS while the server ends its sessions or refuses them for
    now (`ConnectionDropped`: shutting down, starting up, recovering, out of slots); once it
    has said so, nothing listening (`ServerNotListening`) is the same restart between its stop
    and its start, and is tried again too. Nothing listening from the first try is a wrong
    host or port, and fails at once (the two cannot be told apart then).

    Raises `StoreUnavailable` (one line, no secret): at once for a refused connection or a
    schema behind, after `grace` seconds of tries for a server that stayed restarting (0:
    one try, for a caller that retries on its own and shows why meanwhile: the console)."""
    url, setting = postgres_url(settings)
    deadline = time.monotonic() + grace
    pause = 0.2
    restarting = False  # the server said it was going down, coming up, or full
    while True:
        try:
            return await _open_postgres(settings, url, setting, max_size)
        except (ConnectionDropped, ServerNotListening) as exc:
            restarting = restarting or isinstance(exc, ConnectionDropped)
            if not restarting or grace <= 0:
                raise
            if time.monotonic() + pause > deadline:
                said = f"{exc}; still so after {grace:g} s of tries"
                raise type(exc)(said) from None
            log.warning("the database is restarting or full (%s); trying again", exc)
            await asyncio.sleep(pause)
            pause = min(2 * pause, 5.0)


async def _open_postgres(settings: Settings, url: str, setting: str, max_size: int) -> Store:
    transport = await PostgresTransport.connect(url, setting=setting, max_size=max_size)
    store = Store(transport)
    try:
        if settings.database_url is None:
            await asyncio.to_thread(transport.migrate)
        else:
            todo = await asyncio.to_thread(transport.pending_migrations)
            if todo:
                raise StoreUnavailable(
                    f"the database schema is behind by {len(todo)} migration(s): "
                    "run `backfill-console migrate` first"
                )
    except psycopg.OperationalError as exc:  # the direct connection's: one line, no secret
        await store.close()
        raise_refusal(exc)  # a lock or statement timeout is the database busy, not away
        raise unavailable(exc, setting, url) from None
    except BaseException:
        await store.close()
        raise
    return store


@asynccontextmanager
async def open_store(
    settings: Settings, *, max_size: int = 10, grace: float = OPEN_GRACE_SECONDS
) -> AsyncIterator[Store]:
    """The store the settings point at; `grace`: how long a Postgres that is restarting or
    full is tried again (see `connect_postgres`)."""
    store: Store
    if settings.backend is Backend.SUPABASE:
        assert settings.supabase_url is not None
        if settings.supabase_service_key is None:
            raise ConfigError(
                "SUPABASE_URL is set but SUPABASE_SERVICE_KEY is not: set it to the project's "
                "service_role key (Project Settings > API)"
            )
        store = await supabase_store(
            settings.supabase_url,
            settings.supabase_service_key.get_secret_value(),
            max_connections=max_size,
            url_setting=supabase_url_setting(),
        )
    else:
        store = await connect_postgres(settings, max_size=max_size, grace=grace)
    try:
        yield store
    finally:
        await store.close()
