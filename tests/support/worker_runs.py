"""A worker's settings on a test database, and one backfill run to its end."""

from __future__ import annotations

from core.backfill.runtime import Engine
from core.backfill.worker import Worker, WorkerOptions
from core.config import load_settings


def settings(database_url: str):
    return load_settings(
        database_url=database_url,
        github_token="simulator-token",
        github_graphql_url="https://sim/graphql",  # in-process transport; https as required
    )


async def backfill(engine: Engine, **options) -> Worker:
    worker = Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(until_idle=True, idle_interval=0.05, **options),
    )
    await worker.run()
    return worker
