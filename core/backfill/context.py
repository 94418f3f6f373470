"""What every part of a worker shares: the store, its options and counters, its stop, the
page sizes it has learned, and the event log users read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.backfill.options import WorkerOptions, WorkerStats
from core.backfill.page_size import PageSizes
from core.backfill.stopping import Stopping
from core.store.store import Store

log = logging.getLogger("core.backfill.worker")


@dataclass
class WorkerContext:
    store: Store
    options: WorkerOptions
    stats: WorkerStats
    stopping: Stopping
    page_sizes: PageSizes
    on_event: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        """One line in the event log (the console's and the CLI's)."""
        log.info(message)
        if self.on_event is not None:
            self.on_event(message)
