"""Choosing and opening the store the settings point at.

| settings                                    | store                                   |
|---------------------------------------------|-----------------------------------------|
| `DATABASE_URL`                              | psycopg against that Postgres           |
| `SUPABASE_URL` + `SUPABASE_SERVICE_KEY`     | supabase-py against the REST API        |
| neither                                     | psycopg against the embedded Postgres   |
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
        "migrations need a direct Postgres connection, and SUPABASE_URL with "
        "SUPABASE_SERVICE_KEY only reach the REST API, which cannot run DDL: set DATABASE_URL "
        "to the project's connection string (Project Settings > Database) and run this again, "
        "or push migrations/ with `supabase db push`"
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


def supabase_url_setting() -> str:
    """Which of SUPABASE_URL / VITE_SUPABASE_URL gave the URL (the first wins, as in Settings)."""
    names = ("SUPABASE_URL", "VITE_SUPABASE_URL")
    for name in names:
        if os.environ.get(name, "").strip():
            return name
    dotenv = Path(".env")
    if dotenv.is_file():
        from dotenv import dotenv_values

        values = dotenv_values(dotenv)
        for name in names:
            if (values.get(name) or "").strip():
                return name
    return names[0]


@asynccontextmanager
async def open_store(settings: Settings, *, max_size: int = 10) -> AsyncIterator[Store]:
    store: Store
    if settings.backend is Backend.SUPABASE:
        assert settings.supabase_url is not None
        if settings.supabase_service_key is None:
            raise ConfigError(
                "SUPABASE_URL is set but SUPABASE_SERVICE_KEY is not: set it to the project's "
                "service_role key (Project Settings > API)"
            )
        from core.store.supabase import SupabaseStore  # supabase-py takes 0.3 s to import

        store = await SupabaseStore.connect(
            settings.supabase_url,
            settings.supabase_service_key.get_secret_value(),
            max_connections=max_size,
            url_setting=supabase_url_setting(),
        )
    else:
        store = await connect_postgres(settings, max_size=max_size)
    try:
        yield store
    finally:
        await store.close()
