"""The psycopg 3 transport: an async connection pool calling the SQL functions."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic_core import to_json

from core.errors import StoreUnavailable
from core.store import migrations
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
from core.store.sql import query

log = logging.getLogger(__name__)

# Bounds on any one statement and on a forgotten transaction; recovery and commits are small.
_SESSION_SETUP = (
    "SET statement_timeout = '120s'; SET idle_in_transaction_session_timeout = '60s'; "
    "SET application_name = 'backfill-console'"
)
# A commit that deadlocks with another (shared contributors) is retried; its guard makes the
# retry safe.
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


def describe_connect_error(exc: Exception, setting: str) -> str:
    """One line on why a connection failed, without echoing the URL (it may hold a password)."""
    if isinstance(exc, psycopg.OperationalError):
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "connection failed"
        return f"cannot connect to the database given by {setting}: {reason}"
    return f"{setting} is not a valid PostgreSQL connection URL"


class PostgresStore:
    """`Store` over psycopg; also serves `migrate`, which needs DDL (REST cannot run it)."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str) -> None:
        self._pool = pool
        self._conninfo = conninfo

    @classmethod
    async def connect(
        cls, conninfo: str, *, setting: str = "DATABASE_URL", max_size: int = 10
    ) -> PostgresStore:
        try:
            psycopg.conninfo.conninfo_to_dict(conninfo)
        except psycopg.Error:
            raise StoreUnavailable(
                f"{setting} is not a valid PostgreSQL connection URL "
                "(expected postgresql://user:password@host:port/database)"
            ) from None
        # One direct attempt first: the pool would retry quietly and only say "timeout".
        try:
            probe = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=10)
            await probe.close()
        except psycopg.Error as exc:
            raise StoreUnavailable(describe_connect_error(exc, setting)) from None

        async def configure(conn: psycopg.AsyncConnection) -> None:
            await conn.execute(_SESSION_SETUP)
            await conn.commit()

        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            open=False,
            configure=configure,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            raise StoreUnavailable(describe_connect_error(exc, setting)) from None
        return cls(pool, conninfo)

    async def close(self) -> None:
        await self._pool.close()

    # Schema ----------------------------------------------------------------------------

    def migrate(self) -> list[migrations.Migration]:
        with psycopg.connect(self._conninfo) as conn:
            return migrations.apply(conn)

    def pending_migrations(self) -> list[migrations.Migration]:
        with psycopg.connect(self._conninfo) as conn:
            return migrations.pending(conn)

    # Helpers ---------------------------------------------------------------------------

    async def _rows(self, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = await conn.cursor(row_factory=dict_row).execute(query(name), params)
            return await cur.fetchall()

    async def _one(self, name: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = await self._rows(name, params)
        return rows[0] if rows else None

    async def _scalar(self, name: str, params: Mapping[str, Any]) -> Any:
        row = await self._one(name, params)
        return next(iter(row.values())) if row else None

    # Registration and chunk lifecycle ---------------------------------------------------

    async def register_backfill(
        self, owner: str, name: str, total_prs: int, github_id: str | None = None
    ) -> Registration:
        row = await self._one(
            "register_backfill",
            {"owner": owner, "name": name, "total_prs": total_prs, "github_id": github_id},
        )
        assert row is not None
        return Registration(**row)

    async def next_chunk_number(self, backfill_state_id: UUID) -> int:
        return int(
            await self._scalar("get_next_chunk_number", {"backfill_state_id": backfill_state_id})
        )

    async def claim_backfill(
        self, worker_id: str, lease_seconds: int = 60, only: Sequence[UUID] | None = None
    ) -> Lease | None:
        row = await self._one(
            "claim_backfill",
            {
                "worker_id": worker_id,
                "lease_seconds": lease_seconds,
                "only": list(only) if only is not None else None,
            },
        )
        return Lease(**row) if row else None

    async def heartbeat(self, lease: Lease, lease_seconds: int = 60) -> datetime | None:
        return await self._scalar(
            "heartbeat_backfill",
            {
                "backfill_state_id": lease.backfill_state_id,
                "claim_token": lease.claim_token,
                "lease_seconds": lease_seconds,
            },
        )

    async def release(self, lease: Lease) -> bool:
        return bool(
            await self._scalar(
                "release_backfill",
                {"backfill_state_id": lease.backfill_state_id, "claim_token": lease.claim_token},
            )
        )

    async def set_waiting(self, lease: Lease, until: datetime | None) -> bool:
        return bool(
            await self._scalar(
                "set_backfill_waiting",
                {
                    "backfill_state_id": lease.backfill_state_id,
                    "claim_token": lease.claim_token,
                    "until": until,
                },
            )
        )

    async def start_chunk(self, lease: Lease, worker_id: str) -> Chunk | None:
        row = await self._one(
            "start_chunk",
            {
                "backfill_state_id": lease.backfill_state_id,
                "claim_token": lease.claim_token,
                "worker_id": worker_id,
            },
        )
        return Chunk(**row) if row else None

    async def record_chunk_prs(self, chunk: Chunk, pr_numbers: Sequence[int]) -> bool:
        return bool(
            await self._scalar(
                "record_chunk_prs",
                {
                    "chunk_id": chunk.id,
                    "claim_token": chunk.claim_token,
                    "pr_numbers": list(pr_numbers),
                },
            )
        )

    async def commit_chunk(
        self,
        chunk: Chunk,
        pull_requests: Sequence[PullRequestRecord],
        *,
        cursor_after: str | None,
        has_next_page: bool,
        total_prs: int,
    ) -> CommitResult:
        params = {
            "chunk_id": chunk.id,
            "claim_token": chunk.claim_token,
            # Serialised in Rust, models included: json.dumps of model dumps was a quarter of
            # a worker's CPU.
            "pull_requests": to_json(list(pull_requests), fallback=str).decode(),
            "cursor_after": cursor_after,
            "has_next_page": has_next_page,
            "total_prs": total_prs,
        }
        for attempt in range(5):
            try:
                result = await self._scalar("commit_chunk", params)
                return CommitResult(**result)
            except _RETRYABLE:
                log.info("commit of chunk %s hit a lock conflict; retrying", chunk.chunk_number)
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def fail_chunk(self, chunk: Chunk, error: str, cooldown_seconds: int = 0) -> bool:
        return bool(
            await self._scalar(
                "fail_chunk",
                {
                    "chunk_id": chunk.id,
                    "claim_token": chunk.claim_token,
                    "error": error,
                    "cooldown_seconds": cooldown_seconds,
                },
            )
        )

    async def fail_backfill(self, lease: Lease, reason: str) -> bool:
        return bool(
            await self._scalar(
                "fail_backfill",
                {
                    "backfill_state_id": lease.backfill_state_id,
                    "claim_token": lease.claim_token,
                    "reason": reason,
                },
            )
        )

    # Whole-backfill controls ------------------------------------------------------------

    async def reopen_backfill(self, backfill_state_id: UUID, total_prs: int) -> bool:
        return bool(
            await self._scalar(
                "reopen_backfill",
                {"backfill_state_id": backfill_state_id, "total_prs": total_prs},
            )
        )

    async def pause_backfill(self, backfill_state_id: UUID) -> bool:
        return bool(await self._scalar("pause_backfill", {"backfill_state_id": backfill_state_id}))

    async def resume_backfill(self, backfill_state_id: UUID) -> bool:
        return bool(await self._scalar("resume_backfill", {"backfill_state_id": backfill_state_id}))

    async def work_summary(self, only: Sequence[UUID] | None = None) -> WorkSummary:
        row = await self._one(
            "backfill_work_summary", {"only": list(only) if only is not None else None}
        )
        assert row is not None
        return WorkSummary(**row)

    # Presence and budget ----------------------------------------------------------------

    async def worker_heartbeat(
        self,
        worker_id: str,
        *,
        host: str,
        pid: int,
        status: str,
        backfill_state_id: UUID | None = None,
        detail: str | None = None,
    ) -> None:
        await self._rows(
            "worker_heartbeat",
            {
                "worker_id": worker_id,
                "host": host,
                "pid": pid,
                "status": status,
                "backfill_state_id": backfill_state_id,
                "detail": detail,
            },
        )

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
    ) -> None:
        await self._rows(
            "record_rate_limit",
            {
                "token_fingerprint": token_fingerprint,
                "remaining": remaining,
                "limit": limit,
                "used": used,
                "reset_at": reset_at,
                "last_cost": last_cost,
                "average_cost_per_query": average_cost_per_query,
                "queries": queries,
            },
        )

    # Monitoring ---------------------------------------------------------------------------

    async def chunk_statistics(
        self,
        since_hours: int = 24,
        backfill_state_id: UUID | None = None,
        stuck_minutes: int = 30,
    ) -> ChunkStatistics:
        row = await self._one(
            "chunk_statistics",
            {
                "since_hours": since_hours,
                "backfill_state_id": backfill_state_id,
                "stuck_minutes": stuck_minutes,
            },
        )
        assert row is not None
        return ChunkStatistics(**row)

    async def backfill_progress(self, rate_window_minutes: int = 15) -> list[BackfillProgress]:
        rows = await self._rows("backfill_progress", {"rate_window_minutes": rate_window_minutes})
        return [BackfillProgress(**row) for row in rows]

    async def rate_limits(self) -> list[RateLimitRecord]:
        return [RateLimitRecord(**row) for row in await self._rows("rate_limits", {})]

    async def workers(self) -> list[WorkerRecord]:
        return [WorkerRecord(**row) for row in await self._rows("workers", {})]

    async def stuck_chunks(self, stuck_minutes: int = 30, limit: int = 100) -> list[StuckChunk]:
        rows = await self._rows("stuck_chunks", {"stuck_minutes": stuck_minutes, "limit": limit})
        return [StuckChunk(**row) for row in rows]

    # Recovery -------------------------------------------------------------------------------

    async def recover_stuck_chunks(
        self, *, stuck_minutes: int, cleanup_days: int, dry_run: bool, cleanup_batch: int = 5000
    ) -> dict[str, Any]:
        return await self._scalar(
            "recover_stuck_chunks",
            {
                "stuck_minutes": stuck_minutes,
                "cleanup_days": cleanup_days,
                "dry_run": dry_run,
                "cleanup_batch": cleanup_batch,
            },
        )

    async def prune_completed_chunks(
        self, *, cleanup_days: int, batch: int = 5000
    ) -> dict[str, Any]:
        return await self._scalar(
            "prune_completed_chunks", {"cleanup_days": cleanup_days, "batch": batch}
        )
