"""The engine on its own thread and event loop, so no database call ever runs on the UI loop.

The console awaits `Backend.call(...)`: the coroutine runs on the backend loop and the UI
only awaits a future, which it can cancel at any time (quitting never waits on a query).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import AsyncExitStack, suppress
from typing import TypeVar
from uuid import UUID

from core.backfill.registry import AddResult, add_repositories
from core.backfill.runtime import open_client
from core.config import Settings
from core.monitoring import PollCache, StatsReport, collect_stats
from core.recovery import RecoveryReport, recover
from core.store import open_store
from core.store.models import BackfillDetail, RemovalCounts
from core.store.store import Store

T = TypeVar("T")


class Backend:
    def __init__(self, settings: Settings, *, stuck_minutes: int | None = None) -> None:
        self.settings = settings
        self.stuck_minutes = stuck_minutes or settings.chunk_recovery_minutes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine", daemon=True)
        self._stack = AsyncExitStack()
        self._store: Store | None = None
        self._opening = asyncio.Lock()
        self._poll_cache = PollCache()  # each poll receives only what changed

    def start(self) -> None:
        self._thread.start()

    async def call(self, work: Callable[[Store], Awaitable[T]]) -> T:
        """Run `work(store)` on the engine loop; the store is opened by the first call."""
        return await asyncio.wrap_future(self._submit(self._with_store(work)))

    def _submit(self, coro: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    async def _with_store(self, work: Callable[[Store], Awaitable[T]]) -> T:
        async with self._opening:
            if self._store is None:
                # Shielded: a poll cancelled mid-connect must not leave a half-open pool.
                self._store = await asyncio.shield(self._open())
        return await work(self._store)

    async def _open(self) -> Store:
        # One try per poll (grace 0): a server that is full or restarting is tried again by
        # the next poll, and the error line says why meanwhile, instead of the summary saying
        # "connecting to the database…" through a silent 30 s retry (again at every poll).
        return await self._stack.enter_async_context(open_store(self.settings, grace=0))

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._stack.aclose()

    def close(self, timeout: float = 1.0) -> None:
        """Cancel what is running, close the store and stop the loop; never blocks quitting
        for longer than `timeout`."""
        if not self._thread.is_alive():
            return
        # On the way out there is nobody left to report a failed close to.
        with suppress(Exception):
            self._submit(self._shutdown()).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    # The engine calls the console makes ---------------------------------------------------

    async def snapshot(self) -> StatsReport:
        return await self.call(
            lambda store: collect_stats(
                store, stuck_minutes=self.stuck_minutes, cache=self._poll_cache
            )
        )

    async def recover(self, *, dry_run: bool) -> RecoveryReport:
        return await self.call(
            lambda store: recover(store, stuck_minutes=self.stuck_minutes, dry_run=dry_run)
        )

    async def add(self, names: list[str]) -> list[AddResult]:
        async def work(store: Store) -> list[AddResult]:
            async with open_client(self.settings, store) as (client, _):
                return await add_repositories(store, client, names)

        return await self.call(work)

    async def pause(self, backfill_state_id: str) -> bool:
        return await self.call(lambda store: store.pause_backfill(UUID(backfill_state_id)))

    async def resume(self, backfill_state_id: str) -> bool:
        return await self.call(lambda store: store.resume_backfill(UUID(backfill_state_id)))

    async def detail(self, backfill_state_id: str) -> BackfillDetail | None:
        return await self.call(lambda store: store.backfill_detail(UUID(backfill_state_id)))

    async def retry(self, backfill_state_id: str) -> bool:
        return await self.call(lambda store: store.retry_backfill(UUID(backfill_state_id)))

    async def removal(self, repository_id: str, *, dry_run: bool) -> RemovalCounts:
        return await self.call(
            lambda store: store.remove_repository(UUID(repository_id), dry_run=dry_run)
        )
