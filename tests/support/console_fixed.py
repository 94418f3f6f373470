"""Fixed data for pictures of the console: one StatsReport and one recovery plan that never
change, so snapshots and the render benchmark compare like with like."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from console.backend import Backend
from core.config import load_settings
from core.errors import StoreUnavailable
from core.monitoring import StatsReport, budget_metrics
from core.recovery import RecoveryReport
from core.store.models import (
    BackfillDetail,
    BackfillProgress,
    ChunkRecord,
    ChunkStatistics,
    DataCounts,
    Freshness,
    RateLimitRecord,
    RemovalCounts,
    StuckChunk,
    WorkerRecord,
)

NOW = datetime(2026, 11, 29, 14, 30, 0, tzinfo=UTC)


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


def progress(
    repository: str,
    *,
    processed: int,
    total: int | None,
    status: str = "active",
    rate: float = 0.0,
    chunk: int = 0,
    leased: bool = False,
    waiting: bool = False,
    error: str | None = None,
    failed_chunks: int = 0,
    stalled_minutes: int | None = None,
) -> BackfillProgress:
    percent = None if not total else round(processed / total * 100, 1)
    eta = (total - processed) / rate * 60 if rate and total else None
    return BackfillProgress(
        backfill_state_id=_id(repository),
        repository_id=_id("repo:" + repository),
        repository=repository,
        status=status,
        processed_prs=processed,
        total_prs=total,
        percent=percent,
        prs_per_minute=rate,
        eta_seconds=eta,
        last_chunk_number=chunk,
        chunks_processing=1 if leased else 0,
        chunks_failed=failed_chunks,
        leased_by="worker-a" if leased else None,
        lease_expires_at=NOW + timedelta(seconds=40) if leased else None,
        waiting_until=NOW + timedelta(minutes=12) if waiting else None,
        cooldown_until=None,
        last_error=error,
        error_count=1 if error else 0,
        created_at=NOW - timedelta(hours=2),
        updated_at=NOW - timedelta(seconds=5),
        started_at=NOW - timedelta(hours=2),
        completed_at=NOW - timedelta(minutes=30) if status == "completed" else None,
        observed_at=NOW,
        # Stored something a minute ago, unless the fixture says it stalled that long ago.
        progressed_at=NOW - timedelta(minutes=stalled_minutes or 1),
    )


def freshness(p: BackfillProgress, *, syncing: bool = False, syncs: int = 0) -> Freshness:
    """As `sync_freshness_snapshot` says it: a completed repository is fresh as of its last
    sync's start (never synced: its backfill's start); one still backfilling has no lag."""
    done = p.status == "completed"
    fresh_as_of = NOW - timedelta(minutes=17) if syncs else p.started_at
    return Freshness(
        backfill_state_id=p.backfill_state_id,
        repository=p.repository,
        status=p.status,
        watermark=NOW - timedelta(minutes=19) if syncs else None,
        synced_at=NOW - timedelta(minutes=16) if syncs else None,
        fresh_as_of=fresh_as_of if done else None,
        lag_seconds=int((NOW - fresh_as_of).total_seconds()) if done and fresh_as_of else None,
        syncing=syncing,
        sync_requested_at=None,
        syncs=syncs,
        observed_at=NOW,
    )


def report(repositories: int = 0) -> StatsReport:
    """The picture's report; `repositories` > 0 adds that many generated rows (benchmarks)."""
    rows = [
        progress(
            "octo/linux", processed=41_230, total=96_400, rate=1_850, chunk=1_116, leased=True
        ),
        progress("octo/react", processed=15_800, total=15_800, status="completed", chunk=428),
        progress("acme/api", processed=2_960, total=8_000, rate=640, chunk=81, waiting=True),
        progress("acme/web", processed=120, total=5_400, status="paused", chunk=4),
        progress(
            "acme/legacy",
            processed=700,
            total=2_000,
            status="failed",
            chunk=19,
            error="repository was deleted on GitHub",
            failed_chunks=1,
        ),
        progress("acme/empty", processed=0, total=None, status="completed"),
        progress("acme/new", processed=0, total=3_200, status="pending"),
        progress(
            "acme/mono",
            processed=9_100,
            total=40_000,
            chunk=311,
            leased=True,
            error="secondary rate limit: GitHub asked to slow down",
            stalled_minutes=25,
        ),
    ]
    rows += [
        progress(f"bulk/repo-{n:04d}", processed=n * 7, total=5_000, rate=n % 90, chunk=n % 50)
        for n in range(repositories)
    ]
    workers = [
        WorkerRecord(
            id="worker-a",
            host="ci-runner-1",
            pid=4242,
            status="running",
            backfill_state_id=_id("octo/linux"),
            repository="octo/linux",
            detail=None,
            started_at=NOW - timedelta(hours=1),
            heartbeat_at=NOW - timedelta(seconds=3),
            stopped_at=None,
            alive=True,
        ),
        WorkerRecord(
            id="worker-b",
            host="laptop",
            pid=777,
            status="waiting",
            backfill_state_id=_id("acme/api"),
            repository="acme/api",
            detail="waiting for the GraphQL budget until 14:42:00",
            started_at=NOW - timedelta(hours=1),
            heartbeat_at=NOW - timedelta(seconds=8),
            stopped_at=None,
            alive=True,
        ),
        WorkerRecord(
            id="cron-nightly",
            host="ci-runner-2",
            pid=31,
            status="running",
            backfill_state_id=None,
            repository=None,
            detail=None,
            started_at=NOW - timedelta(hours=9),
            heartbeat_at=NOW - timedelta(hours=7),
            stopped_at=None,
            alive=False,
        ),
    ]
    budget = RateLimitRecord(
        token_fingerprint="sha256:1a2b3c4d",
        remaining=1_180,
        limit=5_000,
        used=3_820,
        reset_at=NOW + timedelta(minutes=12, seconds=30),
        last_cost=1,
        average_cost_per_query=1.04,
        queries=3_673,
        observed_at=NOW - timedelta(seconds=2),
    )
    stuck = [
        StuckChunk(
            chunk_id=_id("stuck-1"),
            backfill_state_id=_id("acme/legacy"),
            repository="acme/legacy",
            chunk_number=18,
            worker_id="cron-nightly",
            started_at=NOW - timedelta(minutes=47),
            age_seconds=47 * 60,
            stored=37,
            expected=37,
            decision="completed",
            reason="recovered 37/37",
        )
    ]
    # octo/react is syncing (synced 3 times before); acme/empty was never synced.
    fresh = [
        freshness(p, syncing=True, syncs=3) if p.repository == "octo/react" else freshness(p)
        for p in rows
    ]
    return StatsReport(
        chunks=ChunkStatistics(processing=2, completed=1_648, failed=3, stuck=1, total=1_653),
        progress=rows,
        workers=workers,
        budgets=[budget_metrics(budget)],
        stuck=stuck,
        freshness=fresh,
    )


def recovery_plan() -> RecoveryReport:
    chunk: dict[str, Any] = report().stuck[0].model_dump() | {"outcome": "planned"}
    return RecoveryReport.model_validate(
        {
            "dry_run": True,
            "stuck_minutes": 30,
            "cleanup_days": 30,
            "observed_at": NOW,
            "stuck_before": NOW - timedelta(minutes=30),
            "chunks": [chunk],
            "leases": [
                {
                    "backfill_state_id": _id("acme/legacy"),
                    "repository": "acme/legacy",
                    "leased_by": "cron-nightly",
                    "lease_expires_at": NOW - timedelta(hours=7),
                    "cursor": None,
                    "outcome": "planned",
                }
            ],
            "cleanup": {
                "cutoff": NOW - timedelta(days=30),
                "batch": 5000,
                "eligible": 12_408,
                "deleted": 0,
                "remaining": 12_408,
                "per_backfill": [],
            },
        }
    )


def detail() -> BackfillDetail:
    """acme/legacy in full: a failed chunk with a long error under two that completed."""
    long_error = (
        "GraphQL error: Could not resolve to a Repository with the name 'acme/legacy'. "
        "(type NOT_FOUND, path repository) — the repository was deleted on GitHub or the "
        "token lost access to it; retry after restoring access, or remove it."
    )
    chunks = [
        ChunkRecord(
            chunk_number=19,
            status="failed",
            started_at=NOW - timedelta(minutes=31),
            failed_at=NOW - timedelta(minutes=30, seconds=58),
            worker_id="worker-a",
            error=long_error,
        ),
        *(
            ChunkRecord(
                chunk_number=n,
                status="completed",
                started_at=NOW - timedelta(minutes=40 + (18 - n) * 2),
                completed_at=NOW - timedelta(minutes=39 + (18 - n) * 2, seconds=20),
                pr_count=37,
                worker_id="worker-a",
            )
            for n in range(18, 10, -1)
        ),
    ]
    return BackfillDetail(
        backfill_state_id=_id("acme/legacy"),
        repository_id=_id("repo:acme/legacy"),
        repository="acme/legacy",
        status="failed",
        page_size=37,
        error_count=3,
        last_error="repository was deleted on GitHub",
        cooldown_until=None,
        leased_by=None,
        lease_expires_at=None,
        lease_host=None,
        has_cursor=True,
        after_pr=1_412,
        state={},
        chunks=chunks,
        observed_at=NOW,
        stored=DataCounts(
            repository_id=_id("repo:acme/legacy"),
            pull_requests=700,
            reviews=1_184,
            comments=2_406,
            review_threads=391,
            review_comments=947,
        ),
    )


def syncing_detail() -> BackfillDetail:
    """octo/react in full: completed, a sync walking its second page under a live lease."""
    chunks = [
        ChunkRecord(
            chunk_number=431,
            kind="sync",
            status="processing",
            started_at=NOW - timedelta(seconds=4),
            worker_id="worker-a",
        ),
        ChunkRecord(
            chunk_number=430,
            kind="sync",
            status="completed",
            started_at=NOW - timedelta(seconds=9),
            completed_at=NOW - timedelta(seconds=5),
            pr_count=100,
            worker_id="worker-a",
        ),
        *(
            ChunkRecord(
                chunk_number=n,
                kind="sync" if n == 429 else "backfill",
                status="completed",
                started_at=NOW - timedelta(minutes=17 + (429 - n) * 5),
                completed_at=NOW - timedelta(minutes=16 + (429 - n) * 5),
                pr_count=12 if n == 429 else 37,
                worker_id="worker-b",
            )
            for n in range(429, 420, -1)
        ),
    ]
    return BackfillDetail(
        backfill_state_id=_id("octo/react"),
        repository_id=_id("repo:octo/react"),
        repository="octo/react",
        status="completed",
        page_size=100,
        error_count=0,
        last_error=None,
        cooldown_until=None,
        leased_by="worker-a",
        lease_expires_at=NOW + timedelta(seconds=52),
        lease_host="ci-runner-1",
        has_cursor=True,
        after_pr=15_800,
        state={"kind": None},
        chunks=chunks,
        observed_at=NOW,
    )


def mixed_row(n: int) -> tuple[BackfillProgress, bool]:
    """Generated repository `n` of a large set, in a state picked by `n` (deterministic): 2%
    failed, 2.5% stuck, 10% waiting for the budget, 20% active (a tenth of them with an
    old stuck chunk, `mixed_report`), 4% syncing, 5% pending, 5% paused, the rest
    completed. Returns its row and whether it is syncing."""
    name = f"fleet/service-{n:04d}"
    total = 500 + (n * 37) % 9_500
    if n % 50 == 0:
        return progress(
            name,
            processed=total // 3,
            total=total,
            status="failed",
            chunk=n % 40,
            error="GitHub refused the token",
            failed_chunks=1,
        ), False
    if n % 40 == 1:
        return progress(
            name,
            processed=total // 2,
            total=total,
            chunk=n % 30,
            leased=True,
            error="no new pull requests stored",
            stalled_minutes=25,
        ), False
    if n % 10 == 2:
        return progress(
            name, processed=total // 4, total=total, rate=30 + n % 60, chunk=n % 20, waiting=True
        ), False
    if n % 10 in (3, 4):
        return progress(
            name, processed=total // 5, total=total, rate=20 + n % 90, chunk=n % 25, leased=True
        ), False
    if n % 25 == 5:
        return progress(name, processed=total, total=total, status="completed", chunk=n % 60), True
    if n % 10 == 6:
        paused = n % 20 == 16
        return progress(
            name,
            processed=total // 6 if paused else 0,
            total=total,
            status="paused" if paused else "pending",
        ), False
    return progress(
        name, processed=total, total=total, status="completed", rate=n % 40, chunk=n % 60
    ), False


def mixed_report(repositories: int = 1_000) -> StatsReport:
    """The fixed report with `repositories` generated ones in mixed states (`mixed_row`)
    instead of the hand-made eight: what a user watching a thousand repositories sees."""
    base = report()
    made = [mixed_row(n) for n in range(repositories)]
    rows = [p for p, _ in made]
    fresh = [freshness(p, syncing=syncing, syncs=1 if syncing else 0) for p, syncing in made]
    stuck = [
        StuckChunk(
            chunk_id=_id(f"stuck-{p.repository}"),
            backfill_state_id=p.backfill_state_id,
            repository=p.repository,
            chunk_number=p.last_chunk_number + 1,
            worker_id="worker-a",
            started_at=NOW - timedelta(minutes=47),
            age_seconds=47 * 60,
            stored=10,
            expected=100,
            decision="reset",
            reason="partial: 10/100 stored",
        )
        for n, p in enumerate(rows)
        if p.leased_by is not None
        and p.progressed_at is not None
        and (NOW - p.progressed_at > timedelta(minutes=10) or n % 100 == 3)
    ]
    return StatsReport(base.chunks, rows, base.workers, base.budgets, stuck, fresh)


class FixedBackend(Backend):
    """A backend whose database answers with the fixed report (or fails, for the error view);
    `mixed`: `mixed_report(repositories)` instead, a large set in every state."""

    def __init__(self, *, fail: bool = False, repositories: int = 0, mixed: bool = False) -> None:
        super().__init__(load_settings(_env_file=None, database_url="postgresql://fixed/none"))
        self.fail = fail
        self.fixed = mixed_report(repositories) if mixed else report(repositories)

    def start(self) -> None:
        pass

    def close(self, timeout: float = 1.0) -> None:
        pass

    async def snapshot(self) -> StatsReport:
        if self.fail:
            raise StoreUnavailable(
                "could not connect to the database at DATABASE_URL (connection refused): "
                "is it running, and is the URL right?"
            )
        return self.fixed

    async def recover(self, *, dry_run: bool) -> RecoveryReport:
        return recovery_plan()

    async def removal(self, repository_id: str, *, dry_run: bool) -> RemovalCounts:
        return RemovalCounts(
            repository="acme/legacy",
            backfills=1,
            chunks=19,
            pull_requests=700,
            reviews=1_204,
            comments=3_310,
            failures=0,
            removed=not dry_run,
        )

    async def detail(self, backfill_state_id: str) -> BackfillDetail | None:
        if backfill_state_id == str(_id("octo/react")):
            return syncing_detail()
        return detail()


def installation_budgets() -> list[dict[str, Any]]:
    """Budgets of a GitHub App's installations and a personal token: six, so the
    panel lists four by name and counts the rest."""
    spec = [
        ("installation 41 (octo-org)", 4_100, 5_000, 12),
        ("installation 42 (acme-industries-international)", 310, 12_500, 41),
        ("installation 43 (kernel)", 0, 5_000, 3),
        ("installation 44 (tools)", 4_990, 5_000, 58),
        ("installation 45 (docs)", 2_500, 5_000, 30),
        ("token 1a2b3c4d", 1_180, 5_000, 20),
    ]
    budgets = []
    for i, (name, remaining, limit, minutes) in enumerate(spec):
        installation = 41 + i if name.startswith("installation") else None
        record = RateLimitRecord(
            token_fingerprint=f"installation:{installation}" if installation else "sha256:1a2b",
            remaining=remaining,
            limit=limit,
            used=limit - remaining,
            reset_at=NOW + timedelta(minutes=minutes),
            last_cost=1,
            average_cost_per_query=1.0,
            queries=100,
            observed_at=NOW - timedelta(seconds=i),
            credential=name,
            installation_id=installation,
        )
        budgets.append(budget_metrics(record))
    return budgets


def later(base: StatsReport, seconds: float, **changed: dict[str, Any]) -> StatsReport:
    """`base` read again `seconds` later: every row observed then, the lag that much older;
    `changed` maps a repository to new field values for its progress row."""
    moment = NOW + timedelta(seconds=seconds)
    rows = [
        p.model_copy(update={"observed_at": moment, **changed.get(p.repository, {})})
        for p in base.progress
    ]
    fresh = [
        f.model_copy(
            update={
                "observed_at": moment,
                "lag_seconds": None if f.lag_seconds is None else f.lag_seconds + int(seconds),
            }
        )
        for f in base.freshness
    ]
    return StatsReport(base.chunks, rows, base.workers, base.budgets, base.stuck, fresh)
