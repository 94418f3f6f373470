"""One read of everything a user watches: chunk statistics, progress, workers, budgets.

The CLI's `stats` and the console both render this snapshot; neither computes numbers itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core.store.models import (
    BackfillProgress,
    ChunkStatistics,
    RateLimitRecord,
    StuckChunk,
    WorkerRecord,
)
from core.store.store import Store


def budget_metrics(record: RateLimitRecord) -> dict[str, Any]:
    """The spec's metric names for a stored budget snapshot."""
    average = record.average_cost_per_query or (record.last_cost or 1)
    return {
        "tokenFingerprint": record.token_fingerprint,
        "remaining": record.remaining,
        "limit": record.limit,
        "used": record.used,
        "percentageUsed": round(record.used / record.limit * 100, 2) if record.limit else 0.0,
        "averageCostPerQuery": round(average, 2),
        "estimatedQueriesRemaining": int(record.remaining // max(average, 1e-9)),
        "resetAt": record.reset_at.isoformat(),
        "lastCost": record.last_cost,
        "observedAt": record.observed_at.isoformat(),
    }


@dataclass(frozen=True)
class StatsReport:
    chunks: ChunkStatistics
    progress: list[BackfillProgress]
    workers: list[WorkerRecord]
    budgets: list[dict[str, Any]]
    stuck: list[StuckChunk]

    def to_json(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks.model_dump(mode="json"),
            "progress": [p.model_dump(mode="json") for p in self.progress],
            "workers": [w.model_dump(mode="json") for w in self.workers],
            "graphql": self.budgets,
            "stuckChunks": [c.model_dump(mode="json") for c in self.stuck],
        }


async def collect_stats(
    store: Store, *, stuck_minutes: int = 30, backfill_state_id: UUID | None = None
) -> StatsReport:
    chunks, progress, workers, budgets, stuck = await asyncio.gather(
        store.chunk_statistics(
            since_hours=24, backfill_state_id=backfill_state_id, stuck_minutes=stuck_minutes
        ),
        store.backfill_progress(),
        store.workers(),
        store.rate_limits(),
        store.stuck_chunks(stuck_minutes),
    )
    if backfill_state_id is not None:  # per backfill: its own progress row only
        progress = [p for p in progress if p.backfill_state_id == backfill_state_id]
        stuck = [c for c in stuck if c.backfill_state_id == backfill_state_id]
    return StatsReport(chunks, progress, workers, [budget_metrics(b) for b in budgets], stuck)


async def find_backfill(store: Store, repository: str) -> BackfillProgress | None:
    """The backfill of OWNER/NAME, matched case-insensitively as GitHub matches names."""
    wanted = repository.strip().lower()
    for progress in await store.backfill_progress():
        if progress.repository.lower() == wanted:
            return progress
    return None
