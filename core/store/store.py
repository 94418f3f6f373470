"""The store the engine, the CLI and the console use: each atomic step's Python side, once.

Each method names the SQL function (migrations/) that does the step, its arguments, and the
model that comes back; the transport under it (psycopg or PostgREST, see transport.py) only
carries the call. The Python side never re-checks what the database enforces: guards, fencing
and counting live in the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import psycopg.errors
from pydantic import BaseModel, TypeAdapter

from core.storable import storable_text
from core.store.models import (
    BackfillDetail,
    BackfillProgress,
    CatchUpPlan,
    Chunk,
    ChunkFailure,
    ChunkStatistics,
    CommitResult,
    DatabaseSize,
    DataCounts,
    Freshness,
    Lease,
    ProbeLease,
    PullRequestRecord,
    RateLimitRecord,
    Registration,
    RemovalCounts,
    RetryRequest,
    StoredComment,
    StuckChunk,
    SyncLease,
    SyncResult,
    WorkerRecord,
    WorkSummary,
)
from core.store.refusals import raise_refusal
from core.store.transport import Json, Transport

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
C = TypeVar("C", CommitResult, SyncResult)

# A commit that deadlocks with another (shared contributors) is retried; its fencing guard
# makes the retry safe. PostgREST's errors arrive as the same psycopg classes.
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_COMMIT_ATTEMPTS = 5
# The spec's `get_next_chunk_number(backfill_state_id uuid)` names its parameter without the
# `p_` prefix every other function uses.
_UNPREFIXED = frozenset({"get_next_chunk_number"})
_TIMESTAMP: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)


def _lease(lease: Lease) -> dict[str, Any]:
    """The arguments that fence a write to a backfill: whose lease, which claim."""
    return {"backfill_state_id": lease.backfill_state_id, "claim_token": lease.claim_token}


def _chunk(chunk: Chunk) -> dict[str, Any]:
    """The arguments that fence a write to a chunk."""
    return {"chunk_id": chunk.id, "claim_token": chunk.claim_token}


def _routing(installations: Sequence[int] | None) -> dict[str, Any]:
    """The routing argument of a claim: left out when None, so the call is the spec's own
    (and works on a database migrated before routing)."""
    return {} if installations is None else {"installations": sorted(set(installations))}


def sql_args(function: str, **args: Any) -> dict[str, Any]:
    """The SQL parameter names for `function`'s keyword arguments (`chunk_id` -> `p_chunk_id`),
    each text made storable (core.storable: a reason quoting GitHub's words, an id
    GitHub sent, can hold a NUL or a lone surrogate, which neither wire can carry)."""
    args = {name: _storable_arg(value) for name, value in args.items()}
    if function in _UNPREFIXED:
        return args
    return {f"p_{name}": value for name, value in args.items()}


def _storable_arg(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list) and any(isinstance(v, str) for v in value):
        return [storable_text(v) if isinstance(v, str) else v for v in value]
    return value


class Store:
    """Registration, the chunk lifecycle, recovery, statistics, presence and budget."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def close(self) -> None:
        await self.transport.close()

    # Calls ----------------------------------------------------------------------------------

    async def _send(self, call: Awaitable[T]) -> T:
        """Every call of the SQL API goes through here: a refusal of the database (read-only,
        a lock or statement timeout) becomes its one-line error (core/store/refusals.py)."""
        try:
            return await call
        except psycopg.Error as exc:
            raise_refusal(exc)
            raise

    async def _rows(self, function: str, model: type[M], **args: Any) -> list[M]:
        rows = await self._send(self.transport.rows(function, sql_args(function, **args)))
        return [model.model_validate(row) for row in rows]

    async def _one(self, function: str, model: type[M], **args: Any) -> M | None:
        return next(iter(await self._rows(function, model, **args)), None)

    async def _value(self, function: str, **args: Any) -> Any:
        return await self._send(self.transport.value(function, sql_args(function, **args)))

    async def _flag(self, function: str, **args: Any) -> bool:
        return bool(await self._value(function, **args))

    # Registration and the chunk lifecycle -------------------------------------------------

    async def register_backfill(
        self,
        owner: str,
        name: str,
        total_prs: int,
        github_id: str | None = None,
        *,
        installation_id: int | None = None,
    ) -> Registration:
        """Register (or find) a repository and its backfill. `installation_id`: the GitHub App
        installation that sees it, stored in the same statement (None leaves a known one)."""
        args: dict[str, Any] = {"installation_id": installation_id} if installation_id else {}
        row = await self._one(
            "register_backfill",
            Registration,
            owner=owner,
            name=name,
            total_prs=total_prs,
            github_id=github_id,
            **args,
        )
        assert row is not None, "register_backfill returns one row"
        return row

    async def next_chunk_number(self, backfill_state_id: UUID) -> int:
        return int(await self._value("get_next_chunk_number", backfill_state_id=backfill_state_id))

    async def claim_backfill(
        self,
        worker_id: str,
        lease_seconds: int = 60,
        only: Sequence[UUID] | None = None,
        *,
        installations: Sequence[int] | None = None,
    ) -> Lease | None:
        """Lease one backfill. `installations`: claim only repositories of these App
        installations (or of none); None = any, as before routing (migrations/2025016...)."""
        return await self._one(
            "claim_backfill",
            Lease,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            only=list(only) if only is not None else None,
            **_routing(installations),
        )

    async def heartbeat(self, lease: Lease, lease_seconds: int = 60) -> datetime | None:
        """The lease's new expiry, or None when the lease is no longer ours."""
        expiry = await self._value(
            "heartbeat_backfill", **_lease(lease), lease_seconds=lease_seconds
        )
        return _TIMESTAMP.validate_python(expiry)

    async def release(self, lease: Lease | ProbeLease) -> bool:
        return await self._flag(
            "release_backfill",
            backfill_state_id=lease.backfill_state_id,
            claim_token=lease.claim_token,
        )

    async def remember_page_size(self, lease: Lease, page_size: int) -> bool:
        """The page size this backfill settled on, for whoever claims it next."""
        return await self._flag("remember_page_size", **_lease(lease), page_size=page_size)

    async def set_waiting(self, lease: Lease, until: datetime | None) -> bool:
        return await self._flag("set_backfill_waiting", **_lease(lease), until=until)

    async def start_chunk(self, lease: Lease, worker_id: str) -> Chunk | None:
        return await self._one("start_chunk", Chunk, **_lease(lease), worker_id=worker_id)

    async def record_chunk_prs(self, chunk: Chunk, pr_numbers: Sequence[int]) -> bool:
        return await self._flag("record_chunk_prs", **_chunk(chunk), pr_numbers=list(pr_numbers))

    async def commit_chunk(
        self,
        chunk: Chunk,
        pull_requests: Sequence[PullRequestRecord],
        *,
        cursor_after: str | None,
        has_next_page: bool,
        total_prs: int,
        refused: Sequence[Mapping[str, Any]] = (),
    ) -> CommitResult:
        """Store a page and advance the cursor in one transaction, fenced by the chunk's claim.

        Characters the store cannot hold (U+0000, lone surrogates) are stored as U+FFFD and
        counted in `replaced_characters`; PRs the database refuses are left out, listed in
        `refused` and recorded in pull_request_failures, as are the PRs given in `refused`
        (`{"refused": reason, "github_id": key, "number": ...}`: GitHub sent them wrong,
        short, forbidden or missing), in the same transaction.
        Retried on a deadlock or serialization failure (at most 5 attempts), then raised.
        """
        return await self._commit(
            "commit_chunk",
            CommitResult,
            chunk,
            [*pull_requests, *refused],
            cursor_after=cursor_after,
            has_next_page=has_next_page,
            total_prs=total_prs,
        )

    async def _commit(
        self,
        function: str,
        model: type[C],
        chunk: Chunk,
        pull_requests: Sequence[PullRequestRecord],
        **args: Any,
    ) -> C:
        """One page's commit function, fenced by `chunk`, retried on a deadlock or
        serialization failure (at most 5 attempts; safe: the fencing token makes a repeat a
        no-op), then raised. Characters the store cannot hold arrive as U+FFFD, counted."""
        page = Json.encode(list(pull_requests))
        if page.replaced:
            log.warning(
                "chunk %s: %s character(s) the store cannot hold (U+0000, lone surrogates) "
                "stored as U+FFFD",
                chunk.chunk_number,
                page.replaced,
            )
        call = sql_args(function, **_chunk(chunk), pull_requests=page, **args)
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                result = await self._send(self.transport.value(function, call))
                return model.model_validate({**result, "replaced_characters": page.replaced})
            except _RETRYABLE:
                if attempt == _COMMIT_ATTEMPTS:
                    raise
                log.info(
                    "%s of chunk %s hit a lock conflict; retrying", function, chunk.chunk_number
                )
        raise AssertionError("unreachable")

    async def refuse_pull_request(
        self, chunk: Chunk, github_id: str, number: int | None, error: str
    ) -> bool:
        """Record a PR that cannot be stored (pull_request_failures), fenced by the chunk."""
        return await self._flag(
            "refuse_pull_request",
            **_chunk(chunk),
            github_id=github_id,
            number=number,
            error=error,
        )

    async def pull_requests_to_retry(self, lease: Lease, limit: int = 10) -> list[RetryRequest]:
        """Refused PRs of the leased repository due to be asked for again alone (bounded
        attempts, backing off: migrations/20250230000000_smallest_bad_unit_refused.sql)."""
        return await self._rows(
            "pull_requests_to_retry", RetryRequest, **_lease(lease), limit=limit
        )

    async def fail_chunk(self, chunk: Chunk, error: str, cooldown_seconds: int = 0) -> bool:
        return await self._flag(
            "fail_chunk", **_chunk(chunk), error=error, cooldown_seconds=cooldown_seconds
        )

    async def fail_chunk_in_a_row(
        self, chunk: Chunk, error: str, cooldown_seconds: int, *, max_failures_in_a_row: int
    ) -> ChunkFailure:
        """Fail the chunk as one more failure of its backfill in a row, counted in the
        database so every process shares the count: the cooldown doubles with each (from
        `cooldown_seconds`), and the bound fails the backfill (a sync gives up and rests)."""
        row = await self._one(
            "fail_chunk_in_a_row",
            ChunkFailure,
            **_chunk(chunk),
            error=error,
            cooldown_seconds=cooldown_seconds,
            max_failures_in_a_row=max_failures_in_a_row,
        )
        return row or ChunkFailure()

    async def fail_backfill(self, lease: Lease, reason: str) -> bool:
        return await self._flag("fail_backfill", **_lease(lease), reason=reason)

    # Routing to App installations (migrations/20250160000000_installations.sql) --------------

    async def route_repository(self, repository_id: UUID, installation_id: int) -> bool:
        """Remember the installation that sees a repository registered before routing (fills
        a NULL only). True when it was routed now."""
        return await self._flag(
            "route_repository", repository_id=repository_id, installation_id=installation_id
        )

    async def fail_unreachable_backfill(self, backfill_state_id: UUID, reason: str) -> bool:
        """Fail the backfill of a repository no credential can see, with `reason` (stored,
        shown by stats and the console). False when a worker holds it right now or it is
        completed."""
        return await self._flag(
            "fail_unreachable_backfill", backfill_state_id=backfill_state_id, reason=reason
        )

    # Incremental sync of completed repositories (migrations/20250130000000_incremental_sync.sql)

    async def claim_sync(
        self,
        worker_id: str,
        lease_seconds: int = 60,
        *,
        older_than: timedelta | None = timedelta(minutes=15),
        only: Sequence[UUID] | None = None,
        margin_seconds: int = 600,
        installations: Sequence[int] | None = None,
    ) -> SyncLease | None:
        """A completed repository whose sync is due (older than `older_than`, requested, or a
        walk unfinished), leased like a backfill. `older_than=None`: only requested or
        unfinished syncs. `installations`: routed as `claim_backfill`."""
        return await self._one(
            "claim_sync",
            SyncLease,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            older_than=older_than,
            only=list(only) if only is not None else None,
            margin_seconds=margin_seconds,
            **_routing(installations),
        )

    async def claim_probe(
        self,
        worker_id: str,
        lease_seconds: int = 60,
        *,
        older_than: timedelta | None = timedelta(minutes=15),
        only: Sequence[UUID] | None = None,
        installations: Sequence[int] | None = None,
        limit: int = 100,
    ) -> list[ProbeLease]:
        """Up to `limit` (1-100) completed repositories whose freshness is due (as
        `claim_sync`, less walks in progress and repositories a probe found moved), each
        leased for one probe. `installations`: only repositories routed to those."""
        return await self._rows(
            "claim_probe",
            ProbeLease,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            older_than=older_than,
            only=list(only) if only is not None else None,
            installations=list(installations) if installations is not None else None,
            limit=limit,
        )

    async def settle_probe(
        self,
        lease: ProbeLease,
        newest_updated_at: datetime | None,
        total_count: int,
        margin_seconds: int = 600,
    ) -> str:
        """'unchanged' (fresh as of the probe, no chunk row), 'moved' (due for a sync) or
        'lost' (the lease was taken over); the lease is let go."""
        return str(
            await self._value(
                "settle_probe",
                backfill_state_id=lease.backfill_state_id,
                claim_token=lease.claim_token,
                newest_updated_at=newest_updated_at,
                total_count=total_count,
                margin_seconds=margin_seconds,
            )
        )

    async def probe_failed(self, lease: ProbeLease, error: str, cooldown_seconds: int) -> bool:
        """GitHub would not answer for this repository: it rests `cooldown_seconds`."""
        return await self._flag(
            "probe_failed",
            backfill_state_id=lease.backfill_state_id,
            claim_token=lease.claim_token,
            error=error,
            cooldown_seconds=cooldown_seconds,
        )

    async def request_sync(self, only: Sequence[UUID] | None = None) -> int:
        """Mark completed repositories to be synced now; returns how many were marked."""
        return int(await self._value("request_sync", only=list(only) if only is not None else None))

    async def sync_request_pending(self, backfill_state_id: UUID) -> bool:
        """Whether a "sync now" on this repository is not yet honoured: its data is not fresh
        as of the request (the last finished walk began before it). A walk that finishes
        with the request still pending was resumed from before the request; the repository
        is walked again (migrations/20250210000000_requested_sync_fresh_as_of_request.sql)."""
        return await self._flag("sync_request_pending", backfill_state_id=backfill_state_id)

    async def start_sync_chunk(self, lease: Lease, worker_id: str) -> Chunk | None:
        return await self._one("start_sync_chunk", Chunk, **_lease(lease), worker_id=worker_id)

    async def commit_sync_chunk(
        self,
        chunk: Chunk,
        pull_requests: Sequence[PullRequestRecord],
        *,
        cursor_after: str | None,
        done: bool,
        total_prs: int,
        refused: Sequence[Mapping[str, Any]] = (),
    ) -> SyncResult:
        """Store a sync page (changed PRs with GitHub's current reviews, comments and labels,
        deletions included) in one transaction, fenced by the chunk's claim; with `done` the
        watermark moves and the lease is released. `refused` as in `commit_chunk`. Retried
        on lock conflicts like commits."""
        return await self._commit(
            "commit_sync_chunk",
            SyncResult,
            chunk,
            [*pull_requests, *refused],
            cursor_after=cursor_after,
            done=done,
            total_prs=total_prs,
        )

    # Edits and deletions GitHub does not signal (migration 20250730000000) ------------------

    async def comment_catch_up_plan(self) -> list[CatchUpPlan]:
        """Every completed repository once per listing (conversation comments, review
        comments), where its catch-up starts, when verified."""
        return await self._rows("comment_catch_up_plan", CatchUpPlan)

    async def catch_up_comments(
        self,
        kind: str,
        backfill_state_id: UUID,
        comments: Sequence[Mapping[str, Any]],
        caught_up_to: datetime | None,
        etag: str | None = None,
        listed_since: datetime | None = None,
    ) -> dict[str, int]:
        """Apply one page of `kind`'s catch-up (`CatchUpPlan.kind`: "comments", "review_comments")
        and move that listing's watermark to `caught_up_to` (never back): {updated, inserted,
        skipped} ({} when the backfill is gone). Edits apply to stored comments; conversation
        comments of stored PRs are inserted, review comments when they reply to a stored
        thread's comment. `comments`: as `core.backfill.comment_catch_up`'s `stored_comment`
        and `stored_review_comment` shape them. `etag`: the first page's ETag when the listing
        fitted on it, kept while the watermark is still `listed_since` (the plan's `since`,
        which the page was listed from). An unknown `kind` is refused by the database
        (invalid_parameter_value, 22023), raised as the transport raises a database error."""
        got = await self._value(
            "catch_up_comments",
            kind=kind,
            backfill_state_id=backfill_state_id,
            comments=Json.encode(list(comments)),
            caught_up_to=caught_up_to,
            etag=etag,
            listed_since=listed_since,
        )
        return dict(got or {})

    async def comment_deletion_candidates(
        self, kind: str, backfill_state_id: UUID, listed: Sequence[str], listed_at: datetime
    ) -> list[StoredComment]:
        """Stored comments of `kind` (as `catch_up_comments`) created before `listed_at` that
        GitHub's full listing (`listed`: node ids) lacked, by node id."""
        return await self._rows(
            "comment_deletion_candidates",
            StoredComment,
            kind=kind,
            backfill_state_id=backfill_state_id,
            listed=list(listed),
            listed_at=listed_at,
        )

    async def delete_comments(
        self, kind: str, backfill_state_id: UUID, github_ids: Sequence[str], complete: bool = True
    ) -> int:
        """Delete the repository's comments of `kind` (as `catch_up_comments`) GitHub confirmed
        gone (node ids) and stamp that listing's verification: now when `complete`, else
        cleared (False: candidates are left that the next pass should confirm at once; due
        then). How many were deleted."""
        return int(
            await self._value(
                "delete_comments",
                kind=kind,
                backfill_state_id=backfill_state_id,
                github_ids=list(github_ids),
                complete=complete,
            )
        )

    async def freshness(self) -> list[Freshness]:
        """Per repository: fresh as of when, the lag, whether a sync is under way."""
        rows = await self._value("sync_freshness_snapshot")
        return [Freshness.model_validate(row) for row in rows]

    # Whole-backfill controls ----------------------------------------------------------------

    async def reopen_backfill(self, backfill_state_id: UUID, total_prs: int) -> bool:
        return await self._flag(
            "reopen_backfill", backfill_state_id=backfill_state_id, total_prs=total_prs
        )

    async def pause_backfill(self, backfill_state_id: UUID) -> bool:
        return await self._flag("pause_backfill", backfill_state_id=backfill_state_id)

    async def resume_backfill(self, backfill_state_id: UUID) -> bool:
        return await self._flag("resume_backfill", backfill_state_id=backfill_state_id)

    async def retry_backfill(self, backfill_state_id: UUID) -> bool:
        """A failed backfill back to pending, keeping its cursor and what is stored."""
        return await self._flag("retry_backfill", backfill_state_id=backfill_state_id)

    async def remove_repository(self, repository_id: UUID, *, dry_run: bool) -> RemovalCounts:
        """Count (dry run) or delete a repository and everything stored for it."""
        counts = await self._value(
            "remove_repository", repository_id=repository_id, dry_run=dry_run
        )
        return RemovalCounts.model_validate(counts)

    async def work_summary(
        self, only: Sequence[UUID] | None = None, *, installations: Sequence[int] | None = None
    ) -> WorkSummary:
        """Outstanding work; `installations`: only what these installations' credentials (or
        any credential) may do."""
        row = await self._one(
            "backfill_work_summary",
            WorkSummary,
            only=list(only) if only is not None else None,
            **_routing(installations),
        )
        assert row is not None, "backfill_work_summary returns one row"
        return row

    # Presence and budget, for every console and process to see ------------------------------

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
        await self._value(
            "worker_heartbeat",
            worker_id=worker_id,
            host=host,
            pid=pid,
            status=status,
            backfill_state_id=backfill_state_id,
            detail=detail,
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
        process: str | None = None,
        server_time: Mapping[str, Any] | None = None,
        credential: str | None = None,
        installation_id: int | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Publish a token's budget and this process's server-time figures; returns the other
        processes' latest figures on the token (each with its `age` in seconds). `credential`:
        the budget's display name (core.github.credentials.Credential.name, never a token)."""
        who: dict[str, Any] = {}
        if credential is not None:
            who["credential"] = credential
        if installation_id is not None:
            who["installation_id"] = installation_id
        others = await self._value(
            "record_rate_limit",
            token_fingerprint=token_fingerprint,
            remaining=remaining,
            limit=limit,
            used=used,
            reset_at=reset_at,
            last_cost=last_cost,
            average_cost_per_query=average_cost_per_query,
            queries=queries,
            process=process,
            server_time=Json.encode(dict(server_time)) if server_time is not None else None,
            **who,
        )
        return dict(others or {})

    async def reserve_server_time(
        self,
        token_fingerprint: str,
        *,
        process: str,
        seconds: float,
        window: float,
        budget: float,
        kill: float,
    ) -> tuple[int | None, float]:
        """Take `seconds` (an estimate) of the token's server-time budget for one request, or
        learn how long to wait: (reservation id, 0) or (None, seconds before asking again).
        Atomic across every process on the token (migration 20250180000000)."""
        got = await self._value(
            "reserve_server_time",
            token_fingerprint=token_fingerprint,
            process=process,
            seconds=seconds,
            window=window,
            budget=budget,
            kill=kill,
        )
        reservation = got.get("id")
        return (int(reservation) if reservation is not None else None), float(got["retry_after"])

    async def settle_server_time(self, reservation: int, seconds: float) -> bool:
        """The measured response time replaces the reservation's estimate."""
        return await self._flag("settle_server_time", id=reservation, seconds=seconds)

    # Monitoring -------------------------------------------------------------------------------

    async def chunk_statistics(
        self,
        since_hours: int = 24,
        backfill_state_id: UUID | None = None,
        stuck_minutes: int = 30,
    ) -> ChunkStatistics:
        row = await self._one(
            "chunk_statistics",
            ChunkStatistics,
            since=timedelta(hours=since_hours),
            backfill_state_id=backfill_state_id,
            stuck_minutes=stuck_minutes,
        )
        assert row is not None, "chunk_statistics returns one row"
        return row

    async def database_size(self) -> DatabaseSize:
        """The database's size (pg_database_size) and its growth per day, computed as bytes
        per PR times the PRs stored in the last 24 hours (see `DatabaseSize`)."""
        return DatabaseSize.model_validate(await self._value("database_size"))

    async def backfill_progress(self, rate_window_minutes: int = 15) -> list[BackfillProgress]:
        # One jsonb value, not rows: PostgREST cuts row sets at its "Max rows" silently.
        rows = await self._value(
            "backfill_progress_snapshot", rate_window=timedelta(minutes=rate_window_minutes)
        )
        return [BackfillProgress.model_validate(row) for row in rows]

    async def monitoring_changes(
        self,
        known_progress: Sequence[str],
        known_freshness: Sequence[str],
        rate_window_minutes: int = 15,
    ) -> dict[str, Any]:
        """The progress and freshness rows not among the known digests, and the known digests
        that are gone: {observed_at, progress, progress_gone, freshness, freshness_gone}, each
        row with its digest `h` and without what moves with the clock alone (observed_at,
        lag_seconds). `core.monitoring.PollCache` merges it into whole snapshots."""
        answer: Mapping[str, Any] = await self._value(
            "monitoring_changes",
            rate_window=timedelta(minutes=rate_window_minutes),
            known_progress=list(known_progress),
            known_freshness=list(known_freshness),
        )
        return dict(answer)

    async def backfill_detail(
        self, backfill_state_id: UUID, chunks: int = 20
    ) -> BackfillDetail | None:
        """One backfill in full, with its `chunks` most recent chunks and the rows stored of
        its repository (`stored`); None when it is gone."""
        row = await self._value(
            "backfill_detail", backfill_state_id=backfill_state_id, chunks=chunks
        )
        if row is None:
            return None
        detail = BackfillDetail.model_validate(row)
        stored = await self.data_counts(detail.repository_id)
        return detail.model_copy(update={"stored": stored[0] if stored else None})

    async def data_counts(self, repository_id: UUID | None = None) -> list[DataCounts]:
        """Rows stored per repository (pull requests, reviews, comments, review threads,
        review comments), of every repository or of `repository_id` only (migration
        20250340000000), as the writes keep them (repository_row_counts, migration
        20250661000000): one row per repository read, no table counted."""
        rows = await self._value("repository_data_counts", repository_id=repository_id)
        return [DataCounts.model_validate(row) for row in rows]

    async def rate_limits(self) -> list[RateLimitRecord]:
        """The budget each token last reported, newest first (one row per token)."""
        return await self._rows("github_rate_limit_rows", RateLimitRecord)

    async def workers(self) -> list[WorkerRecord]:
        rows = await self._value("backfill_workers_snapshot")
        return [WorkerRecord.model_validate(row) for row in rows]

    async def stuck_chunks(self, stuck_minutes: int = 30, limit: int = 100) -> list[StuckChunk]:
        """The oldest stuck chunks, as recovery_plan() sees them (what the console highlights)."""
        rows = await self._send(
            self.transport.rows(
                "recovery_plan",
                sql_args("recovery_plan", stuck_minutes=stuck_minutes),
                limit=limit,
            )
        )
        return [StuckChunk.model_validate(row) for row in rows]

    # Stuck-chunk recovery (migrations/20250110000000_recovery.sql); core.recovery parses the
    # function's JSON report.

    async def recover_stuck_chunks(
        self,
        *,
        stuck_minutes: int,
        cleanup_days: int,
        dry_run: bool,
        cleanup_batch: int = 5000,
        count_cap: int = 100_000,
    ) -> dict[str, Any]:
        """The whole recovery in one call (its cleanup's first batch); the cleanup's counts
        stop at `count_cap` rows (migration 20250660000000)."""
        report: Mapping[str, Any] = await self._value(
            "recover_stuck_chunks",
            stuck_minutes=stuck_minutes,
            cleanup_days=cleanup_days,
            dry_run=dry_run,
            cleanup_batch=cleanup_batch,
            count_cap=count_cap,
        )
        return dict(report)

    async def prune_completed_chunks(
        self, *, cleanup_days: int, batch: int = 5000, count: bool = True
    ) -> dict[str, Any]:
        """One cleanup batch: completed chunks older than `cleanup_days`, failed chunks
        started before then, workers silent for a day (or `cleanup_days` if shorter), at most
        `batch` rows of each. `count=False`: no recount of what is left (a drain's later
        batches; `more` says whether the batch came back full)."""
        report: Mapping[str, Any] = await self._value(
            "prune_completed_chunks",
            cleanup_days=cleanup_days,
            batch=batch,
            dry_run=False,
            count=count,
        )
        return dict(report)
