"""A lease while a worker holds it, and what comes after each of its pages."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from dataclasses import dataclass, field

from core.backfill.lanes import Lane
from core.store.models import Chunk, Lease, RetryRequest
from core.store.store import Store


class PageOutcome(enum.Enum):
    """What the work on a lease does after a page (or a failure to get one)."""

    NEXT_PAGE = "next page"  # the lease goes on: fetch the next page
    # Lost, finished, failed, waiting for a budget or a cooldown, stopping: release it.
    LET_GO = "let go"


@dataclass
class HeldLease:
    """A lease this worker works on, the lane it draws on, and its state between pages."""

    lease: Lease
    lane: Lane
    lost: bool = False  # the keep-alive found it gone (expired, taken over)
    handing_over: bool = False  # asked to let go: only hand out what was fetched ahead
    hand_out: int = 0  # budget spent: hand out this many complete PRs fetched ahead, no request
    chunk: Chunk | None = None  # the latest chunk started under this lease
    # Refused PRs due to be asked for again alone: they ride in the next fetch of this claim.
    retry: list[RetryRequest] = field(default_factory=list)

    def take_retry(self) -> list[RetryRequest]:
        retry, self.retry = self.retry, []
        return retry


async def release(store: Store, lease: Lease) -> None:
    """Let the lease go (best effort, even while cancelled: it expires otherwise)."""
    with contextlib.suppress(Exception):
        await asyncio.shield(store.release(lease))
