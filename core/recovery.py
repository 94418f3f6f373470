"""Stuck-chunk recovery as a library call (the CLI's `recover` and the console both use it).

Every decision and write happens in the SQL function `recover_stuck_chunks`, so the psycopg
and Supabase transports behave identically and a dry run is the live run minus its writes.
This module only validates the inputs, drains the cleanup in bounded batches (one short
transaction each) and types the report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from core.store.models import StuckChunk
from core.store.store import Store

# The spec's defaults: stuck after 30 minutes, completed chunks kept 30 days.
DEFAULT_STUCK_MINUTES = 30
DEFAULT_CLEANUP_DAYS = 30
DEFAULT_CLEANUP_BATCH = 5000
# What a recovery counts before it says "at least": each count reads at most this many rows
# (plus one), so a dry run costs the same after six months of history as after one day.
DEFAULT_COUNT_CAP = 100_000

Outcome = Literal["planned", "applied", "skipped", "busy"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ChunkDecision(StuckChunk):
    """One stuck chunk (as `recovery_plan()` finds it), what recovery decided, and what
    became of it.

    outcome: `planned` (dry run), `applied`, `skipped` (its worker finished it meanwhile) or
    `busy` (another transaction held the row; the next run retries it).
    """

    decision: Literal["completed", "failed"]
    outcome: Outcome


class LeaseRelease(_Frozen):
    """An expired lease: released so the backfill resumes from its committed cursor."""

    backfill_state_id: UUID
    repository: str
    leased_by: str | None
    lease_expires_at: datetime
    cursor: str | None
    outcome: Outcome


class CleanupBackfill(_Frozen):
    backfill_state_id: UUID
    repository: str
    chunks: int


class Cleanup(_Frozen):
    """Completed chunks older than the cutoff: `eligible` when recovery started, `deleted`
    over all batches (0 in a dry run).

    Each count stops at `count_cap` rows (migration 20250660000000): past it the matching
    `*_at_least` flag is true and the number is a lower bound ("100,000+"); `remaining` then
    is one too. `per_backfill` counts the oldest `count_cap` chunks only when capped."""

    cutoff: datetime
    batch: int
    eligible: int
    deleted: int
    remaining: int
    batches: int = 1
    per_backfill: list[CleanupBackfill]
    # The same cleanup's other retentions (migrations/20250410000000_bounded_history.sql):
    # failed chunks older than the cutoff, workers rows silent for a day.
    failed_eligible: int = 0
    failed_deleted: int = 0
    workers_eligible: int = 0
    workers_deleted: int = 0
    more: bool = False  # the last batch came back full: another may delete more
    count_cap: int = DEFAULT_COUNT_CAP
    eligible_at_least: bool = False
    failed_eligible_at_least: bool = False
    workers_eligible_at_least: bool = False


class RecoveryReport(_Frozen):
    dry_run: bool
    stuck_minutes: int
    cleanup_days: int
    observed_at: datetime
    stuck_before: datetime
    chunks: list[ChunkDecision]
    leases: list[LeaseRelease]
    cleanup: Cleanup

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.chunks if c.outcome == outcome)

    @property
    def to_complete(self) -> int:
        return sum(1 for c in self.chunks if c.decision == "completed")

    @property
    def to_fail(self) -> int:
        return sum(1 for c in self.chunks if c.decision == "failed")

    @property
    def unprocessed(self) -> list[ChunkDecision]:
        """Chunks this run could not process (rows held by another transaction)."""
        return [c for c in self.chunks if c.outcome == "busy"]

    @property
    def ok(self) -> bool:
        return not self.unprocessed

    def only(self, backfill_state_id: UUID) -> RecoveryReport:
        """The part of a plan that concerns one backfill (the console's per-repository dry
        run): its stuck chunks, its expired lease, its old completed chunks."""
        mine = [b for b in self.cleanup.per_backfill if b.backfill_state_id == backfill_state_id]
        eligible = sum(b.chunks for b in mine)
        return self.model_copy(
            update={
                "chunks": [c for c in self.chunks if c.backfill_state_id == backfill_state_id],
                "leases": [le for le in self.leases if le.backfill_state_id == backfill_state_id],
                "cleanup": self.cleanup.model_copy(
                    update={"per_backfill": mine, "eligible": eligible, "remaining": eligible}
                ),
            }
        )


def _at_least_one(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")


async def recover(
    store: Store,
    *,
    stuck_minutes: int = DEFAULT_STUCK_MINUTES,
    cleanup_days: int = DEFAULT_CLEANUP_DAYS,
    dry_run: bool,
    cleanup_batch: int = DEFAULT_CLEANUP_BATCH,
    max_cleanup_batches: int = 1000,
    count_cap: int = DEFAULT_COUNT_CAP,
) -> RecoveryReport:
    """Recover stuck chunks, release expired leases and prune old completed chunks.

    Safe to run from several places at once (the SQL serialises live runs and guards every
    write). With `dry_run` nothing is written and the report is what a live run would do.
    `count_cap`: the cleanup's counts stop there (rows; the report's `*_at_least` flags say
    which did), so neither a dry run nor the first batch reads the whole history.
    Raises ValueError for a value below 1.
    """
    _at_least_one("stuck_minutes", stuck_minutes)
    _at_least_one("cleanup_days", cleanup_days)
    _at_least_one("cleanup_batch", cleanup_batch)
    _at_least_one("count_cap", count_cap)
    raw = await store.recover_stuck_chunks(
        stuck_minutes=stuck_minutes,
        cleanup_days=cleanup_days,
        dry_run=dry_run,
        cleanup_batch=cleanup_batch,
        count_cap=count_cap,
    )
    report = RecoveryReport.model_validate(raw)
    if dry_run:
        return report

    # Drain the rest of the cleanup, one short transaction per batch. Stop when a batch
    # deletes nothing (the rest belongs to backfills locked right now: next run).
    # Later batches never recount what is left (linear in what they delete): the count
    # taken when recovery started, less what was deleted, is what remains.
    cleanup = report.cleanup
    deleted, batches = cleanup.deleted, 1
    failed, workers = cleanup.failed_deleted, cleanup.workers_deleted
    more, last = cleanup.more, cleanup.deleted + failed + workers
    while more and last > 0 and batches < max_cleanup_batches:
        batch = await store.prune_completed_chunks(
            cleanup_days=cleanup_days, batch=cleanup_batch, count=False
        )
        step = (int(batch["deleted"]), int(batch["failed_deleted"]), int(batch["workers_deleted"]))
        deleted, failed, workers = deleted + step[0], failed + step[1], workers + step[2]
        last, more = sum(step), bool(batch["more"])
        batches += 1
    # A capped count is a lower bound: the drain may delete more than it counted.
    eligible = max(cleanup.eligible, deleted) if cleanup.eligible_at_least else cleanup.eligible
    remaining = max(eligible - deleted, 0)
    return report.model_copy(
        update={
            "cleanup": cleanup.model_copy(
                update={
                    "eligible": eligible,
                    "deleted": deleted,
                    "remaining": remaining,
                    "batches": batches,
                    "failed_deleted": failed,
                    "workers_deleted": workers,
                }
            )
        }
    )
