"""The worker's own presence: a heartbeat row saying what it holds or waits for, so consoles
on any machine list it (each lane's budget is published by `core.backfill.presence`)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from core.backfill.context import WorkerContext
from core.backfill.lanes import Lanes
from core.errors import side_failure_level

log = logging.getLogger(__name__)


class Announcer:
    def __init__(self, ctx: WorkerContext, lanes: Lanes) -> None:
        self.ctx = ctx
        self.lanes = lanes

    async def beat(self) -> None:
        while True:
            await self.once("waiting" if self.lanes.waiting_until() else "running")
            await asyncio.sleep(self.ctx.options.heartbeat_interval)

    async def once(self, status: str) -> None:
        held = [lease for lane in self.lanes for lease in lane.presence.held.values()]
        detail = ", ".join(lease.repository for lease in held) or "idle"
        waiting_until = self.lanes.waiting_until()
        if status == "waiting" and waiting_until:
            detail = f"waiting for the GraphQL budget until {waiting_until:%H:%M:%S}"
        try:
            await self.ctx.store.worker_heartbeat(
                self.ctx.options.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                status=status,
                backfill_state_id=held[0].backfill_state_id if held else None,
                detail=detail,
            )
        except Exception as exc:
            log.log(side_failure_level(exc), "worker heartbeat failed: %s", exc)
