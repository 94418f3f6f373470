"""Runs a worker's sync pass in process against the simulator."""

from __future__ import annotations

from uuid import UUID

from core.backfill.runtime import Engine
from core.backfill.worker import Worker, WorkerOptions


async def run(engine: Engine, **options) -> Worker:
    worker = Worker(
        engine.store,
        engine.client,
        engine.presence,
        WorkerOptions(until_idle=True, idle_interval=0.05, **options),
    )
    await worker.run()
    return worker


async def sync_now(engine: Engine, ids: list[UUID] | None = None) -> Worker:
    await engine.store.request_sync(ids)
    return await run(engine, sync_only=True, only=tuple(ids) if ids else None)
