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


def server_time_metrics(record: RateLimitRecord) -> dict[str, Any] | None:
    """Server time on one token, summed over the processes that reported it (issue 16):
    used in the last window against the budget, answers over the target response time,
    GitHub's 502/504 and secondary-limit answers and PRs delivered, over the last hour.
    Figures are as each process last published them; a process silent for longer than its
    window counts for nothing in the window, one silent for an hour for nothing at all."""
    if not record.server_time:
        return None
    observed = record.observed_at.timestamp()
    fresh, recent = [], []
    for entry in record.server_time.values():
        window = float(entry.get("window_seconds") or 60.0)
        age = observed - float(entry.get("at") or 0.0)
        if age < 60 * window:
            recent.append(entry)
            if age < window:
                fresh.append(entry)
    if not recent:
        return None

    def total(entries: list[dict[str, Any]], key: str) -> float:
        return sum(float(e.get(key) or 0) for e in entries)

    newest = max(recent, key=lambda e: float(e.get("at") or 0.0))
    return {
        "usedSeconds": round(total(fresh, "used_seconds"), 2),
        "budgetSeconds": float(newest.get("budget_seconds") or 0.0),
        "windowSeconds": float(newest.get("window_seconds") or 60.0),
        "targetSeconds": float(newest.get("target_seconds") or 0.0),
        "answersOverTarget": int(total(recent, "over_target")),
        "timeouts": int(total(recent, "timeouts")),
        "secondaryLimits": int(total(recent, "secondary")),
        "prsPerHour": round(total(recent, "prs_per_hour"), 1),
        "processes": len(fresh),
    }


def budget_metrics(record: RateLimitRecord) -> dict[str, Any]:
    """The spec's metric names for a stored budget snapshot, and its server time."""
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
        "serverTime": server_time_metrics(record),
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
