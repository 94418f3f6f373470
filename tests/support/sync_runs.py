"""Runs a worker's sync pass in process against the simulator."""

from __future__ import annotations

from uuid import UUID

from core.backfill.runtime import Engine
from core.backfill.worker import Worker
from tests.support.worker_runs import backfill as run

__all__ = ["run", "sync_now"]


async def sync_now(engine: Engine, ids: list[UUID] | None = None) -> Worker:
    await engine.store.request_sync(ids)
    return await run(engine, sync_only=True, only=tuple(ids) if ids else None)
