"""`add`: register repositories and size their backfills with GitHub's own totalCount."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.backfill.names import parse_repositories
from core.github.client import GitHubClient, RepositoryFacts
from core.github.errors import GitHubError, RepositoryNotFound
from core.store.store import Store

Outcome = Literal["added", "topped up", "already registered"]


class RepositoriesNotFound(GitHubError):
    """Some of the named repositories do not exist (or the token cannot see them)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"not found on GitHub (or not visible to GITHUB_TOKEN): {', '.join(names)}; "
            "nothing was added"
        )


@dataclass(frozen=True)
class AddResult:
    repository: str
    outcome: Outcome
    status: str
    total_prs: int
    backfill_state_id: str


async def add_repositories(store: Store, client: GitHubClient, names: list[str]) -> list[AddResult]:
    """Validate every name and ask GitHub for every count before writing anything.

    A repository already registered is left alone, unless its backfill ended (completed or
    failed): then it is reopened from its stored cursor, fetching only PRs created since.
    """
    repos = parse_repositories(names)
    found: list[RepositoryFacts] = []
    missing = []
    for owner, name in repos:
        try:
            found.append(await client.repository(owner, name))
        except RepositoryNotFound:
            missing.append(f"{owner}/{name}")
    if missing:
        raise RepositoriesNotFound(missing)

    results = []
    for facts in found:
        # By node id, under GitHub's current name: a renamed repository is the same one.
        total = facts.total_prs
        reg = await store.register_backfill(facts.owner, facts.name, total, facts.node_id)
        outcome: Outcome = "added"
        status = reg.status
        if not reg.created:
            outcome = "already registered"
            if await store.reopen_backfill(reg.backfill_state_id, total):
                outcome, status = "topped up", "pending"
        results.append(
            AddResult(f"{reg.owner}/{reg.name}", outcome, status, total, str(reg.backfill_state_id))
        )
    return results
