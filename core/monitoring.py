"""One read of everything a user watches: chunk statistics, progress, workers, budgets.

The CLI's `stats` and the console both render this snapshot; neither computes numbers itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from core.store.models import (
    BackfillProgress,
    ChunkStatistics,
    Freshness,
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
    # Per repository: fresh as of when, the lag (issue 17); what the console's column shows.
    freshness: list[Freshness] = field(default_factory=list)

    def freshness_of(self, backfill_state_id: UUID) -> Freshness | None:
        for row in self.freshness:
            if row.backfill_state_id == backfill_state_id:
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks.model_dump(mode="json"),
            "progress": [p.model_dump(mode="json") for p in self.progress],
            "workers": [w.model_dump(mode="json") for w in self.workers],
            "graphql": self.budgets,
            "stuckChunks": [c.model_dump(mode="json") for c in self.stuck],
            "freshness": [f.model_dump(mode="json") for f in self.freshness],
        }


async def collect_stats(
    store: Store, *, stuck_minutes: int = 30, backfill_state_id: UUID | None = None
) -> StatsReport:
    chunks, progress, workers, budgets, stuck, freshness = await asyncio.gather(
        store.chunk_statistics(
            since_hours=24, backfill_state_id=backfill_state_id, stuck_minutes=stuck_minutes
        ),
        store.backfill_progress(),
        store.workers(),
        store.rate_limits(),
        store.stuck_chunks(stuck_minutes),
        store.freshness(),
    )
    if backfill_state_id is not None:  # per backfill: its own progress row only
        progress = [p for p in progress if p.backfill_state_id == backfill_state_id]
        stuck = [c for c in stuck if c.backfill_state_id == backfill_state_id]
        freshness = [f for f in freshness if f.backfill_state_id == backfill_state_id]
    return StatsReport(
        chunks, progress, workers, [budget_metrics(b) for b in budgets], stuck, freshness
    )


async def find_backfill(store: Store, repository: str) -> BackfillProgress | None:
    """The backfill of OWNER/NAME, matched case-insensitively as GitHub matches names."""
    wanted = repository.strip().lower()
    for progress in await store.backfill_progress():
        if progress.repository.lower() == wanted:
            return progress
    return None
