"""The storage interface the engine, the CLI and the console use.

Two transports implement it: psycopg against any Postgres (embedded included) and supabase-py
against Supabase's REST API. Both call the same SQL functions, so they share one definition
of every atomic step; the Python side never re-checks what the database enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from core.store.models import (
    BackfillProgress,
    Chunk,
    ChunkStatistics,
    CommitResult,
    Lease,
    PullRequestRecord,
    RateLimitRecord,
    Registration,
    StuckChunk,
    WorkerRecord,
    WorkSummary,
)


class Store(Protocol):
    async def close(self) -> None: ...

    # Registration and the chunk lifecycle (DESIGN.md §3).
    async def register_backfill(
        self, owner: str, name: str, total_prs: int, github_id: str | None = None
    ) -> Registration: ...

    async def next_chunk_number(self, backfill_state_id: UUID) -> int: ...

    async def claim_backfill(
        self, worker_id: str, lease_seconds: int = 60, only: Sequence[UUID] | None = None
    ) -> Lease | None: ...

    async def heartbeat(self, lease: Lease, lease_seconds: int = 60) -> datetime | None: ...

    async def release(self, lease: Lease) -> bool: ...

    async def set_waiting(self, lease: Lease, until: datetime | None) -> bool: ...

    async def start_chunk(self, lease: Lease, worker_id: str) -> Chunk | None: ...

    async def record_chunk_prs(self, chunk: Chunk, pr_numbers: Sequence[int]) -> bool: ...

    async def commit_chunk(
        self,
        chunk: Chunk,
        pull_requests: Sequence[PullRequestRecord],
        *,
        cursor_after: str | None,
        has_next_page: bool,
        total_prs: int,
    ) -> CommitResult: ...

    async def fail_chunk(self, chunk: Chunk, error: str, cooldown_seconds: int = 0) -> bool: ...

    async def fail_backfill(self, lease: Lease, reason: str) -> bool: ...

    # Whole-backfill controls.
    async def reopen_backfill(self, backfill_state_id: UUID, total_prs: int) -> bool: ...

    async def pause_backfill(self, backfill_state_id: UUID) -> bool: ...

    async def resume_backfill(self, backfill_state_id: UUID) -> bool: ...

    async def work_summary(self, only: Sequence[UUID] | None = None) -> WorkSummary: ...

    # Presence and budget, for every console and process to see.
    async def worker_heartbeat(
        self,
        worker_id: str,
        *,
        host: str,
        pid: int,
        status: str,
        backfill_state_id: UUID | None = None,
        detail: str | None = None,
    ) -> None: ...

    async def record_rate_limit(
        self,
        token_fingerprint: str,
        *,
        remaining: int,
        limit: int,
        used: int,
        reset_at: datetime,
        last_cost: int | None = None,
        average_cost_per_query: float | None = None,
        queries: int = 0,
    ) -> None: ...

    # Monitoring.
    async def chunk_statistics(
        self,
        since_hours: int = 24,
        backfill_state_id: UUID | None = None,
        stuck_minutes: int = 30,
    ) -> ChunkStatistics: ...

    async def backfill_progress(self, rate_window_minutes: int = 15) -> list[BackfillProgress]: ...

    async def rate_limits(self) -> list[RateLimitRecord]: ...

    async def workers(self) -> list[WorkerRecord]: ...

    async def stuck_chunks(self, stuck_minutes: int = 30, limit: int = 100) -> list[StuckChunk]:
        """The oldest stuck chunks, as recovery_plan() sees them (what the console highlights)."""
        ...

    # Stuck-chunk recovery (migrations/20250110000000_recovery.sql); core.recovery parses
    # the function's JSON report.
    async def recover_stuck_chunks(
        self, *, stuck_minutes: int, cleanup_days: int, dry_run: bool, cleanup_batch: int = 5000
    ) -> dict[str, Any]: ...

    async def prune_completed_chunks(
        self, *, cleanup_days: int, batch: int = 5000
    ) -> dict[str, Any]: ...
