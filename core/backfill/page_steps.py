"""The steps every page takes, a backfill's or a sync's: fetched unless the deadline comes
first, every error ending in its outcome (never a chunk left `processing`), and what its
commit held that was not simply stored said in the event log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from core.backfill.budget_wait import BudgetWaits
from core.backfill.context import WorkerContext
from core.backfill.failures import FailurePolicy
from core.backfill.holding import LeaseHolder
from core.backfill.lease import HeldLease, PageOutcome
from core.backfill.stopping import Interrupted
from core.github.errors import GitHubError
from core.github.models import PullRequestPage
from core.store.models import Chunk, CommitResult, Lease, SyncResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageSteps:
    """What a walk of pages draws on, a backfill's or a sync's."""

    ctx: WorkerContext
    failures: FailurePolicy
    holder: LeaseHolder
    budget: BudgetWaits

    async def fetch(
        self, held: HeldLease, chunk: Chunk, size: int, fetch: Awaitable[PullRequestPage]
    ) -> PullRequestPage | PageOutcome:
        """The page, or (when there is none) what the work on the lease does next."""
        stopping = self.ctx.stopping
        try:
            return await stopping.interruptible(fetch)
        except Interrupted:  # cancelled: `LeaseHolder.holding` records why
            await self.failures.fail(chunk, stopping.cut_short(), counted=False)
            return PageOutcome.LET_GO
        except GitHubError as exc:
            return await self.failures.apply(held, chunk, exc, size)
        except Exception as exc:  # a bug or an unforeseen answer: never leave it `processing`
            log.warning("unexpected error fetching a page", exc_info=True)
            unexpected = GitHubError(f"unexpected error ({type(exc).__name__}: {exc})"[:500])
            return await self.failures.apply(held, chunk, unexpected, size)

    def report(
        self, lease: Lease, chunk: Chunk, page: PullRequestPage, result: CommitResult | SyncResult
    ) -> None:
        """What a committed page held that was not simply stored, one line each in the event
        log: the PRs refused (by the pager, for GitHub's data, or by the database; recorded
        in pull_request_failures, retried alone later), the characters the store cannot hold
        replaced, and enum values GitHub added since this version (stored as sent)."""
        say = self.ctx.say
        where = f"{lease.repository}: chunk {chunk.chunk_number}"
        if result.refused:
            first = result.refused[0]
            say(
                f"{where}: {len(result.refused)} PR(s) refused (see pull_request_failures), "
                f"the rest stored; #{first.get('number') or '?'}: {first.get('error')}"
            )
        if result.replaced_characters:
            say(
                f"{where}: {result.replaced_characters} character(s) the store cannot hold "
                "(U+0000, lone surrogates) stored as U+FFFD"
            )
        if page.unknown_values:
            say(
                f"{where}: {len(page.unknown_values)} value(s) GitHub added since this version, "
                f"stored as sent: {', '.join(page.unknown_values[:3])}"
            )
