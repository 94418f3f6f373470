"""Acting on one repository by name: retry its failed backfill, remove it and its data.

The CLI (`retry`, `remove`) and the console share these; the SQL functions do the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import BackfillError
from core.monitoring import find_backfill
from core.store.models import BackfillProgress, RemovalCounts
from core.store.store import Store


class UnknownRepository(BackfillError):
    """No backfill for that OWNER/NAME."""


@dataclass(frozen=True)
class RetryResult:
    repository: str
    retried: bool
    status: str  # before the retry

    @property
    def outcome(self) -> str:
        if self.retried:
            return "retried: pending again, from its stored cursor"
        return f"not retried: it is {self.status}, not failed"


async def _backfill(store: Store, repository: str) -> BackfillProgress:
    found = await find_backfill(store, repository)
    if found is None:
        raise UnknownRepository(f"{repository}: no such repository in this database")
    return found


async def retry_repositories(store: Store, repositories: list[str]) -> list[RetryResult]:
    """Every name is looked up before anything is retried."""
    found = [await _backfill(store, name) for name in repositories]
    return [
        RetryResult(p.repository, await store.retry_backfill(p.backfill_state_id), p.status)
        for p in found
    ]


async def remove_repository(store: Store, repository: str, *, dry_run: bool) -> RemovalCounts:
    found = await _backfill(store, repository)
    return await store.remove_repository(found.repository_id, dry_run=dry_run)
