"""What a worker is told (`WorkerOptions`), what it counts (`WorkerStats`), and the bounds
every part of it shares."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from uuid import UUID

PAGE_COST_ESTIMATE = 2  # a full page with nested reviews/comments: 1-2 points
MAX_COOLDOWN = 600
# Chunks of one backfill failing in a row (shrinks at size 1, malformed or repeated answers,
# unknown errors) before the backfill itself fails with the last reason: no endless retry.
# Counted in the database (fail_chunk_in_a_row), so it holds across processes and machines.
MAX_FAILURES_IN_A_ROW = 8
# A slot's steps the database gave up on in a row (DatabaseBusy: lock_timeout,
# statement_timeout), retried with backoff, before the worker exits with that line.
MAX_BUSY_IN_A_ROW = 10
SYNC_EVERY = 15 * 60.0  # seconds: a completed repository is synced when its last sync is older
SYNC_MARGIN = 600  # seconds a sync walks past its watermark (clock skew, eventual consistency)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str = field(default_factory=default_worker_id)
    concurrency: int = 1
    until_idle: bool = False
    max_runtime: float | None = None
    only: tuple[UUID, ...] | None = None
    lease_seconds: int = 60
    heartbeat_interval: float = 10.0
    idle_interval: float = 2.0
    slice_seconds: float = 60.0  # then release, so every backfill gets its turn
    max_failures_in_a_row: int = MAX_FAILURES_IN_A_ROW  # then the backfill fails
    cooldown_base: int = 5  # seconds after a first failed chunk; doubles up to MAX_COOLDOWN
    # Syncs of completed repositories, after backfill work: those whose last sync is older
    # than `sync_every` seconds (None or 0: only syncs asked for or unfinished).
    sync_every: float | None = SYNC_EVERY
    sync_margin: int = SYNC_MARGIN
    sync_only: bool = False  # `backfill-console sync`: no backfill work, exit when none is due

    @property
    def only_list(self) -> list[UUID] | None:
        """`only` as the store's claim and summary functions take it (None: every backfill)."""
        return list(self.only) if self.only else None


@dataclass
class WorkerStats:
    claims: int = 0
    pages: int = 0
    prs_inserted: int = 0
    failures: int = 0  # chunks failed
    errors: int = 0  # claims or work the database (or GitHub) cut short, then resumed
    gave_up: int = 0  # backfills this run ended `failed`, syncs it gave up
    lost_leases: int = 0
    syncs: int = 0  # sync walks finished
    probes: int = 0  # freshness probes sent (one document each, up to 100 repositories)
    probed_unchanged: int = 0  # repositories a probe found unchanged (fresh with no walk)
    sync_pages: int = 0
