"""Choosing and opening the store the settings point at.

| settings                                    | store                                   |
|---------------------------------------------|-----------------------------------------|
| `DATABASE_URL`                              | psycopg against that Postgres           |
| `SUPABASE_URL` + `SUPABASE_SERVICE_KEY`     | supabase-py against the REST API        |
| neither                                     | psycopg against the embedded Postgres   |
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.config import Backend, Settings
from core.errors import ConfigError, StoreUnavailable
from core.store.base import Store
from core.store.embedded import embedded_database_url
from core.store.postgres import PostgresStore

__all__ = ["Store", "connect_postgres", "open_store", "postgres_url"]


def postgres_url(settings: Settings) -> tuple[str, str]:
    """The libpq URL to use and the setting it came from (for error messages)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), "DATABASE_URL"
    if settings.backend is Backend.EMBEDDED:
        return embedded_database_url(settings.data_dir), "the embedded database"
    raise ConfigError(
        "this command needs a direct Postgres connection: set DATABASE_URL (Supabase: "
        "Project Settings > Database > Connection string). PostgREST cannot run DDL."
    )


async def connect_postgres(settings: Settings, *, max_size: int = 10) -> PostgresStore:
    """A psycopg store; the embedded database is migrated on the way, others are checked."""
    url, setting = postgres_url(settings)
    store = await PostgresStore.connect(url, setting=setting, max_size=max_size)
    try:
        if settings.database_url is None:
            await asyncio.to_thread(store.migrate)
        else:
            todo = await asyncio.to_thread(store.pending_migrations)
            if todo:
                raise StoreUnavailable(
                    f"the database schema is behind by {len(todo)} migration(s): "
                    "run `backfill-console migrate` first"
                )
    except BaseException:
        await store.close()
        raise
    return store


@asynccontextmanager
async def open_store(settings: Settings, *, max_size: int = 10) -> AsyncIterator[Store]:
    if settings.backend is Backend.SUPABASE:
        if settings.supabase_service_key is None:
            raise ConfigError("SUPABASE_URL is set but SUPABASE_SERVICE_KEY is not")
        raise ConfigError(
            "the Supabase REST transport is not available in this version; set DATABASE_URL "
            "to the project's Postgres connection string instead"
        )
    store = await connect_postgres(settings, max_size=max_size)
    try:
        yield store
    finally:
        await store.close()
