"""The Supabase transport: supabase-py's async client calling the same SQL functions by RPC.

Every atomic step is one RPC of the function the psycopg transport calls (PostgREST runs each
call in one transaction), so nothing is read and then written from here, and `commit_chunk`
sends a whole page - pull requests, authors, reviews, comments - in one call. Reads for the
console are RPCs too (sets as one jsonb value, past PostgREST's row cap), except the budget
table - one row per token - which is selected as it is.

Errors come back as PostgREST's JSON (`code`, `message`, `details`, `hint`). `errors.py`
turns them into what the psycopg transport raises: the `psycopg.errors` class of a SQLSTATE,
`StoreUnavailable` when the API or its database cannot be reached, `ConfigError` naming the
variable to fix when the URL or the key is wrong. The key never appears in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from pydantic_core import to_jsonable_python
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from core.errors import ConfigError
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
from core.store.supabase_errors import (
    KEY_SETTING,
    Endpoint,
    RestError,
    check_key,
    normalise_url,
    raise_for_response,
    translate,
)

__all__ = ["SupabaseStore"]

log = logging.getLogger(__name__)

# Same policy as the psycopg transport: a commit that deadlocks with another (shared
# contributors) is retried; its fencing guard makes the retry safe.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


class SupabaseStore:
    """`Store` over PostgREST, reached through supabase-py's `AsyncClient`."""

    def __init__(self, client: AsyncClient, http: httpx.AsyncClient, endpoint: Endpoint) -> None:
        self._client = client
        self._http = http
        self._endpoint = endpoint

    @classmethod
    async def connect(
        cls,
        url: str,
        service_key: str,
        *,
        max_connections: int = 10,
        request_timeout: float = 120,
        url_setting: str = "SUPABASE_URL",
    ) -> SupabaseStore:
        """A store on the project at `url`, checked with one cheap RPC before it is returned.

        `url_setting` names the variable the URL came from, for error messages.
        """
        base = normalise_url(url, url_setting)
        check_key(service_key)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout, connect=10),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=10),
            event_hooks={"response": [raise_for_response]},
        )
        try:
            # Retries off: supabase-py would retry reads on 503 and network errors, hiding
            # an outage behind 30 s of backoff; the engine has its own policy.
            options = AsyncClientOptions(httpx_client=http, postgrest_client_retry=False)
            client = await acreate_client(base, service_key, options)
        except Exception as exc:  # supabase-py validates URL and key shapes
            await http.aclose()
            raise ConfigError(
                f"{url_setting} or {KEY_SETTING} is malformed ({exc.__class__.__name__})"
            ) from None
        store = cls(client, http, Endpoint(base, service_key, url_setting))
        try:
            await store.work_summary(only=[])
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        await self._http.aclose()

    # Helpers ---------------------------------------------------------------------------

    async def _rpc(self, function: str, params: Mapping[str, Any]) -> Any:
        try:
            response = await self._client.rpc(function, dict(params)).execute()
        except (RestError, httpx.HTTPError) as exc:
            raise translate(exc, function=function, endpoint=self._endpoint) from None
        return response.data

    async def _rows(self, function: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        data = await self._rpc(function, params)
        return list(data or [])

    async def _one(self, function: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = await self._rows(function, params)
        return rows[0] if rows else None

    # Registration and chunk lifecycle ---------------------------------------------------

    async def register_backfill(
        self, owner: str, name: str, total_prs: int, github_id: str | None = None
    ) -> Registration:
        row = await self._one(
            "register_backfill",
            {"p_owner": owner, "p_name": name, "p_total_prs": total_prs, "p_github_id": github_id},
        )
        assert row is not None
        return Registration(**row)

    async def next_chunk_number(self, backfill_state_id: UUID) -> int:
        # The spec's signature: its one argument is not p_-prefixed.
        data = await self._rpc(
            "get_next_chunk_number", {"backfill_state_id": str(backfill_state_id)}
        )
        return int(data)

    async def claim_backfill(
        self, worker_id: str, lease_seconds: int = 60, only: Sequence[UUID] | None = None
    ) -> Lease | None:
        row = await self._one(
            "claim_backfill",
            {
                "p_worker_id": worker_id,
                "p_lease_seconds": lease_seconds,
                "p_only": [str(i) for i in only] if only is not None else None,
            },
        )
        return Lease(**row) if row else None

    async def heartbeat(self, lease: Lease, lease_seconds: int = 60) -> datetime | None:
        data = await self._rpc(
            "heartbeat_backfill",
            {
                "p_backfill_state_id": str(lease.backfill_state_id),
                "p_claim_token": lease.claim_token,
                "p_lease_seconds": lease_seconds,
            },
        )
        return datetime.fromisoformat(data) if data else None

    async def release(self, lease: Lease) -> bool:
        return bool(
            await self._rpc(
                "release_backfill",
                {
                    "p_backfill_state_id": str(lease.backfill_state_id),
                    "p_claim_token": lease.claim_token,
                },
            )
        )

    async def set_waiting(self, lease: Lease, until: datetime | None) -> bool:
        return bool(
            await self._rpc(
                "set_backfill_waiting",
                {
                    "p_backfill_state_id": str(lease.backfill_state_id),
                    "p_claim_token": lease.claim_token,
                    "p_until": until.isoformat() if until else None,
                },
            )
        )

    async def start_chunk(self, lease: Lease, worker_id: str) -> Chunk | None:
        row = await self._one(
            "start_chunk",
            {
                "p_backfill_state_id": str(lease.backfill_state_id),
                "p_claim_token": lease.claim_token,
                "p_worker_id": worker_id,
            },
        )
        return Chunk(**row) if row else None

    async def record_chunk_prs(self, chunk: Chunk, pr_numbers: Sequence[int]) -> bool:
        return bool(
            await self._rpc(
                "record_chunk_prs",
                {
                    "p_chunk_id": str(chunk.id),
                    "p_claim_token": chunk.claim_token,
                    "p_pr_numbers": list(pr_numbers),
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
            "p_chunk_id": str(chunk.id),
            "p_claim_token": chunk.claim_token,
            # a JSON array in the body: jsonb
            "p_pull_requests": to_jsonable_python(list(pull_requests), fallback=str),
            "p_cursor_after": cursor_after,
            "p_has_next_page": has_next_page,
            "p_total_prs": total_prs,
        }
        for attempt in range(5):
            try:
                return CommitResult(**await self._rpc("commit_chunk", params))
            except Exception as exc:
                if getattr(exc, "sqlstate", None) not in _RETRYABLE_SQLSTATES or attempt == 4:
                    raise
                log.info("commit of chunk %s hit a lock conflict; retrying", chunk.chunk_number)
        raise AssertionError("unreachable")

    async def fail_chunk(self, chunk: Chunk, error: str, cooldown_seconds: int = 0) -> bool:
        return bool(
            await self._rpc(
                "fail_chunk",
                {
                    "p_chunk_id": str(chunk.id),
                    "p_claim_token": chunk.claim_token,
                    "p_error": error,
                    "p_cooldown_seconds": cooldown_seconds,
                },
            )
        )

    async def fail_backfill(self, lease: Lease, reason: str) -> bool:
        return bool(
            await self._rpc(
                "fail_backfill",
                {
                    "p_backfill_state_id": str(lease.backfill_state_id),
                    "p_claim_token": lease.claim_token,
                    "p_reason": reason,
                },
            )
        )

    # Whole-backfill controls ------------------------------------------------------------

    async def reopen_backfill(self, backfill_state_id: UUID, total_prs: int) -> bool:
        return bool(
            await self._rpc(
                "reopen_backfill",
                {"p_backfill_state_id": str(backfill_state_id), "p_total_prs": total_prs},
            )
        )

    async def pause_backfill(self, backfill_state_id: UUID) -> bool:
        return bool(
            await self._rpc("pause_backfill", {"p_backfill_state_id": str(backfill_state_id)})
        )

    async def resume_backfill(self, backfill_state_id: UUID) -> bool:
        return bool(
            await self._rpc("resume_backfill", {"p_backfill_state_id": str(backfill_state_id)})
        )

    async def work_summary(self, only: Sequence[UUID] | None = None) -> WorkSummary:
        row = await self._one(
            "backfill_work_summary",
            {"p_only": [str(i) for i in only] if only is not None else None},
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
        await self._rpc(
            "worker_heartbeat",
            {
                "p_worker_id": worker_id,
                "p_host": host,
                "p_pid": pid,
                "p_status": status,
                "p_backfill_state_id": str(backfill_state_id) if backfill_state_id else None,
                "p_detail": detail,
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
        await self._rpc(
            "record_rate_limit",
            {
                "p_token_fingerprint": token_fingerprint,
                "p_remaining": remaining,
                "p_limit": limit,
                "p_used": used,
                "p_reset_at": reset_at.isoformat(),
                "p_last_cost": last_cost,
                "p_average_cost_per_query": average_cost_per_query,
                "p_queries": queries,
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
                "p_since": f"{int(since_hours)} hours",
                "p_backfill_state_id": str(backfill_state_id) if backfill_state_id else None,
                "p_stuck_minutes": stuck_minutes,
            },
        )
        assert row is not None
        return ChunkStatistics(**row)

    async def backfill_progress(self, rate_window_minutes: int = 15) -> list[BackfillProgress]:
        # One jsonb value, not rows: Supabase cuts row sets at "Max rows" (1,000) silently.
        rows = await self._rpc(
            "backfill_progress_snapshot", {"p_rate_window": f"{int(rate_window_minutes)} minutes"}
        )
        return [BackfillProgress(**row) for row in rows]

    async def rate_limits(self) -> list[RateLimitRecord]:
        try:  # one row per token: far below any row cap
            response = await (
                self._client.table("github_rate_limits")
                .select("*")
                .order("observed_at", desc=True)
                .execute()
            )
        except (RestError, httpx.HTTPError) as exc:
            raise translate(exc, function="github_rate_limits", endpoint=self._endpoint) from None
        return [RateLimitRecord(**row) for row in _rows(response.data)]

    async def workers(self) -> list[WorkerRecord]:
        rows = await self._rpc("backfill_workers_snapshot", {})
        return [WorkerRecord(**row) for row in rows]

    async def stuck_chunks(self, stuck_minutes: int = 30, limit: int = 100) -> list[StuckChunk]:
        # recovery_plan is ordered oldest first; PostgREST applies the limit to the call.
        try:
            response = await (
                self._client.rpc("recovery_plan", {"p_stuck_minutes": stuck_minutes})
                .limit(limit)
                .execute()
            )
        except (RestError, httpx.HTTPError) as exc:
            raise translate(exc, function="recovery_plan", endpoint=self._endpoint) from None
        return [StuckChunk(**row) for row in _rows(response.data)]

    # Recovery -------------------------------------------------------------------------------

    async def recover_stuck_chunks(
        self, *, stuck_minutes: int, cleanup_days: int, dry_run: bool, cleanup_batch: int = 5000
    ) -> dict[str, Any]:
        return dict(
            await self._rpc(
                "recover_stuck_chunks",
                {
                    "p_stuck_minutes": stuck_minutes,
                    "p_cleanup_days": cleanup_days,
                    "p_dry_run": dry_run,
                    "p_cleanup_batch": cleanup_batch,
                },
            )
        )

    async def prune_completed_chunks(
        self, *, cleanup_days: int, batch: int = 5000
    ) -> dict[str, Any]:
        return dict(
            await self._rpc(
                "prune_completed_chunks",
                {"p_cleanup_days": cleanup_days, "p_batch": batch, "p_dry_run": False},
            )
        )


def _rows(data: Any) -> list[dict[str, Any]]:
    """PostgREST answers a table read or a set-returning function with an array of objects."""
    return list(data or [])
