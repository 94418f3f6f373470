"""One read of everything a user watches: chunk statistics, progress, workers, budgets.

The CLI's `stats` and the console both render this snapshot; neither computes numbers itself.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from core.store.models import (
    BackfillProgress,
    ChunkStatistics,
    DatabaseSize,
    DataCounts,
    Freshness,
    RateLimitRecord,
    StuckChunk,
    WorkerRecord,
)
from core.store.store import Store

M = TypeVar("M", bound=BaseModel)


def server_time_metrics(record: RateLimitRecord) -> dict[str, Any] | None:
    """Server time on one token, summed over the processes that reported it:
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


REST_SUFFIX = "/rest"  # a REST budget's row: its token's fingerprint + this (one-way still)


def budget_resource(token_fingerprint: str) -> str:
    """Which of GitHub's budgets a stored row is: "rest" (REST's `core`) or "graphql"."""
    return "rest" if token_fingerprint.endswith(REST_SUFFIX) else "graphql"


def budget_metrics(record: RateLimitRecord) -> dict[str, Any]:
    """The spec's metric names for a stored budget snapshot, and its server time. `name`: whose
    budget ("installation 42 (octo-org)", "token 1a2b3c4d"; the fingerprint when the writer
    did not say), `installationId`: its GitHub App installation (None for a personal token).
    Never a token: the fingerprint is one-way."""
    average = record.average_cost_per_query or (record.last_cost or 1)
    return {
        "resource": budget_resource(record.token_fingerprint),
        "name": record.name,
        "installationId": record.installation_id,
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


# A backfill held by a live worker that has stored nothing new for this long is stalled.
STALL_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Standing:
    """Where a backfill stands, in words: `state`, why it is not advancing (`why`), and since
    when (`since`, the database's clock). The one place `stats`, `stats --json` and the
    console get it from."""

    state: str  # completed, failed, paused, waiting, cooling, stalled, active, queued, idle
    why: str | None
    since: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "why": self.why,
            "since": self.since.isoformat() if self.since else None,
        }


def standing(p: BackfillProgress, stall_after: timedelta = STALL_AFTER) -> Standing:
    """Why `p` is (not) advancing and since when, from its row alone (observed_at is now)."""
    now = p.observed_at
    moved = p.progressed_at or p.started_at or p.created_at
    if p.status == "completed":
        return Standing("completed", p.last_error, p.completed_at)  # a note: refused PRs
    if p.status == "failed":
        return Standing("failed", p.last_error or "unknown", p.updated_at)
    if p.status == "paused":
        return Standing("paused", "paused by a user", p.updated_at)
    if p.waiting_until is not None and p.waiting_until > now:
        until = p.waiting_until.isoformat(timespec="seconds")
        return Standing("waiting", f"GitHub's budget is spent until {until}", moved)
    if p.cooldown_until is not None and p.cooldown_until > now:
        until = p.cooldown_until.isoformat(timespec="seconds")
        return Standing("cooling", f"retry at {until}: {p.last_error or 'a chunk failed'}", moved)
    held = p.leased_by is not None and p.lease_expires_at is not None and p.lease_expires_at > now
    if held:
        if now - moved >= stall_after:
            return Standing("stalled", p.last_error or "no new pull requests stored", moved)
        return Standing("active", None, moved)
    if p.status == "pending":
        return Standing("queued", "no worker has claimed it yet", p.created_at)
    return Standing("idle", p.last_error or "no worker holds it", moved)


# A backfill that is not moving on its own has no rate and no ETA: a failed one waits for a
# retry, a paused one for a resume; the PRs its last chunks stored are history, not a pace.
NOT_MOVING = ("failed", "paused")


def without_pace(p: BackfillProgress) -> BackfillProgress:
    """`p` with no rate (0 PRs/min) and no ETA (None, shown as "—") when it is failed or
    paused; unchanged otherwise. The one place `stats`, `stats --json` and the console get
    the rule from."""
    if p.status not in NOT_MOVING:
        return p
    return p.model_copy(update={"prs_per_minute": 0.0, "eta_seconds": None})


@dataclass(frozen=True)
class StatsReport:
    chunks: ChunkStatistics
    progress: list[BackfillProgress]
    workers: list[WorkerRecord]
    budgets: list[dict[str, Any]]
    stuck: list[StuckChunk]
    # Per repository: fresh as of when, the lag; what the console's column shows.
    freshness: list[Freshness] = field(default_factory=list)
    # The database's size and growth per day; read by `stats` only, not by every poll.
    size: DatabaseSize | None = None
    # Per repository: rows stored (review threads and review comments included); `stats` only.
    stored: list[DataCounts] = field(default_factory=list)

    def freshness_of(self, backfill_state_id: UUID) -> Freshness | None:
        for row in self.freshness:
            if row.backfill_state_id == backfill_state_id:
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        names = {p.repository_id: p.repository for p in self.progress}
        return {
            "chunks": self.chunks.model_dump(mode="json"),
            "progress": [
                {**p.model_dump(mode="json"), "standing": standing(p).to_json()}
                for p in self.progress
            ],
            "workers": [w.model_dump(mode="json") for w in self.workers],
            "graphql": [b for b in self.budgets if b["resource"] == "graphql"],
            "rest": [b for b in self.budgets if b["resource"] == "rest"],
            "stuckChunks": [c.model_dump(mode="json") for c in self.stuck],
            "freshness": [f.model_dump(mode="json") for f in self.freshness],
            "database": self.size.model_dump(mode="json") if self.size is not None else None,
            "stored": [
                {"repository": names.get(c.repository_id), **c.model_dump(mode="json")}
                for c in self.stored
            ],
        }


class PollCache:
    """The progress and freshness rows a poller already holds, keyed by the digest
    `monitoring_changes` gives each: every poll asks only for rows it does not hold, and
    merges the answer into whole lists of the shapes `backfill_progress` and `freshness`
    return (the same rows, in the same order). Each row is validated once, when it arrives;
    a poll with nothing changed only stamps the held rows with its observation time (at
    1,000 repositories, validating 2,000 rows again was ~30 ms of every poll). One per
    poller; its reads take turns, so an older answer is never merged over a newer one."""

    def __init__(self) -> None:
        self.progress: dict[str, BackfillProgress] = {}
        self.freshness: dict[str, Freshness] = {}
        self._order: list[str] = []  # progress digests in the order rows are returned
        self._turn = asyncio.Lock()

    async def read(self, store: Store) -> tuple[list[BackfillProgress], list[Freshness]]:
        async with self._turn:
            return await self._read(store)

    async def _read(self, store: Store) -> tuple[list[BackfillProgress], list[Freshness]]:
        answer = await store.monitoring_changes(list(self.progress), list(self.freshness))
        observed = datetime.fromisoformat(answer["observed_at"])
        for gone in answer["progress_gone"]:
            self.progress.pop(gone, None)
        for gone in answer["freshness_gone"]:
            self.freshness.pop(gone, None)
        for row in answer["progress"]:
            digest = row.pop("h")
            self.progress[digest] = BackfillProgress.model_validate(
                {**row, "observed_at": observed}
            )
        for row in answer["freshness"]:
            digest = row.pop("h")
            self.freshness[digest] = Freshness.model_validate(
                {**row, "observed_at": observed, "lag_seconds": None}
            )
        if answer["progress"] or answer["progress_gone"] or len(self._order) != len(self.progress):
            self._order = sorted(
                self.progress,
                key=lambda h: (self.progress[h].created_at, self.progress[h].repository),
            )
        progress = [_observed(self.progress[h], observed) for h in self._order]
        place = {p.backfill_state_id: i for i, p in enumerate(progress)}
        freshness = sorted(
            (_fresh(f, observed) for f in self.freshness.values()),
            key=lambda f: place.get(f.backfill_state_id, len(place)),
        )
        return progress, freshness


def restamped(model: M, **changes: Any) -> M:
    """`model.model_copy(update=changes)` for already validated values, at a tenth of its
    cost: 2,000 held rows are stamped with the time of every poll, and model_copy took
    ~25 ms of it at 1,000 repositories. A shallow copy, like model_copy: the same fields set,
    no extra or private attributes (these snapshot models have none)."""
    new = model.__class__.__new__(model.__class__)
    object.__setattr__(new, "__dict__", {**model.__dict__, **changes})
    object.__setattr__(new, "__pydantic_fields_set__", model.__pydantic_fields_set__)
    object.__setattr__(new, "__pydantic_extra__", None)
    object.__setattr__(new, "__pydantic_private__", None)
    return new


def _observed(p: BackfillProgress, observed: datetime) -> BackfillProgress:
    """A held row as of this poll (the one field that moves with the clock alone)."""
    return p if p.observed_at == observed else restamped(p, observed_at=observed)


def _fresh(f: Freshness, observed: datetime) -> Freshness:
    """A held freshness row as of `observed`, with the lag sync_freshness_snapshot gives:
    whole seconds since fresh_as_of, at least 0; None while there is no fresh_as_of."""
    lag = None
    if f.fresh_as_of is not None:
        lag = max(0, math.floor((observed - f.fresh_as_of).total_seconds()))
    return restamped(f, observed_at=observed, lag_seconds=lag)


async def collect_stats(
    store: Store,
    *,
    stuck_minutes: int = 30,
    backfill_state_id: UUID | None = None,
    cache: PollCache | None = None,
    with_size: bool = False,
    counts: bool = False,
) -> StatsReport:
    """Everything `stats` and the console show, in one concurrent read. `cache`: a poller's
    rows from its last poll; only the progress and freshness rows that changed are sent.
    `with_size`: also the database's size and growth (a count of the PRs); `counts`: also the
    rows stored per repository (whole tables). `stats` asks for both, the console's frequent
    poll for neither."""

    async def size() -> DatabaseSize | None:
        return await store.database_size() if with_size else None

    async def progress_and_freshness() -> tuple[list[BackfillProgress], list[Freshness]]:
        if cache is not None:
            return await cache.read(store)
        return await asyncio.gather(store.backfill_progress(), store.freshness())

    async def stored() -> list[DataCounts]:
        return await store.data_counts() if counts else []

    async def size_and_stored() -> tuple[DatabaseSize | None, list[DataCounts]]:
        return await asyncio.gather(size(), stored())

    (
        chunks,
        (progress, freshness),
        workers,
        budgets,
        stuck,
        (database, stored_rows),
    ) = await asyncio.gather(
        store.chunk_statistics(
            since_hours=24, backfill_state_id=backfill_state_id, stuck_minutes=stuck_minutes
        ),
        progress_and_freshness(),
        store.workers(),
        store.rate_limits(),
        store.stuck_chunks(stuck_minutes),
        size_and_stored(),
    )
    progress = [without_pace(p) for p in progress]
    if backfill_state_id is not None:  # per backfill: its own progress row only
        progress = [p for p in progress if p.backfill_state_id == backfill_state_id]
        stuck = [c for c in stuck if c.backfill_state_id == backfill_state_id]
        freshness = [f for f in freshness if f.backfill_state_id == backfill_state_id]
    held = {p.repository_id for p in progress}
    return StatsReport(
        chunks,
        progress,
        workers,
        [budget_metrics(b) for b in budgets],
        stuck,
        freshness,
        database,
        [c for c in stored_rows if c.repository_id in held],
    )


async def find_backfill(store: Store, repository: str) -> BackfillProgress | None:
    """The backfill of OWNER/NAME, matched case-insensitively as GitHub matches names."""
    wanted = repository.strip().lower()
    for progress in await store.backfill_progress():
        if progress.repository.lower() == wanted:
            return progress
    return None
