"""`add`: register repositories and size their backfills with GitHub's own totalCount."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.backfill.names import parse_repositories
from core.github.client import GitHubClient, RepositoryFacts
from core.github.credentials import Credentials, NotVisible
from core.github.errors import GitHubError, RepositoryNotFound
from core.github.queries import PROBE_BATCH
from core.store.store import Store

if TYPE_CHECKING:
    from core.backfill.runtime import Lane

Outcome = Literal["added", "topped up", "already registered", "not visible"]


class RepositoriesNotFound(GitHubError):
    """Some of the named repositories do not exist (or the token cannot see them)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"not found on GitHub (or not visible to the credentials in use): {', '.join(names)}; "
            "nothing was added"
        )


@dataclass(frozen=True)
class AddResult:
    repository: str
    outcome: Outcome
    status: str
    total_prs: int
    backfill_state_id: str
    installation_id: int | None = None  # the App installation that sees it (None: any)
    reason: str | None = None  # why its backfill failed at once (no installation sees it)


def installation_clients(lanes: Iterable[Lane]) -> dict[int, GitHubClient]:
    """Each App installation's client, from a process's lanes (core.backfill.runtime); personal
    tokens have none (any client will do)."""
    return {
        lane.credential.installation_id: lane.client
        for lane in lanes
        if lane.credential.installation_id is not None
    }


def unreachable_reason(exc: NotVisible, app_id: int | None) -> str:
    """What a backfill no installation can see says: which App, which repository, what to do."""
    app = f"GitHub App {app_id}" if app_id is not None else "the GitHub App"
    base = f"no installation of the GitHub App can see {exc.owner}/{exc.repo}"
    detail = str(exc).removeprefix(base).removeprefix(": ")
    if detail:
        repository = f"{exc.owner}/{exc.repo}"
        return f"no installation of {app} this process may use can see {repository}: {detail}"
    return (
        f"no installation of {app} can see {exc.owner}/{exc.repo}; install the App on "
        f"{exc.owner} (or give it access to this repository), then add it again"
    )


async def register(
    store: Store, facts: RepositoryFacts, installation: int | None = None
) -> AddResult:
    """Register one repository GitHub described, or top up its ended backfill."""
    # By node id, under GitHub's current name: a renamed repository is the same one.
    total = facts.total_prs
    reg = await store.register_backfill(
        facts.owner, facts.name, total, facts.node_id, installation_id=installation
    )
    outcome: Outcome = "added"
    status = reg.status
    if not reg.created:
        outcome = "already registered"
        if await store.reopen_backfill(reg.backfill_state_id, total):
            outcome, status = "topped up", "pending"
    return AddResult(
        f"{reg.owner}/{reg.name}", outcome, status, total, str(reg.backfill_state_id), installation
    )


async def add_in_batches(
    store: Store,
    client: GitHubClient,
    repos: Sequence[tuple[str, str]],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[tuple[str, AddResult | str]]:
    """Add many repositories (personal tokens: any credential sees them): GitHub is asked in
    aliased documents of PROBE_BATCH = 100 (about a point each, not a request each), and
    each batch's repositories are registered before the next is asked. One GitHub will not
    serve gets GitHub's reason instead of a result; the others are added.
    `on_progress(done, total)` after each batch. Raises what fails a whole document (after
    the client's bounded retries): the batches before it stay added."""
    out: list[tuple[str, AddResult | str]] = []
    for start in range(0, len(repos), PROBE_BATCH):
        batch = list(repos[start : start + PROBE_BATCH])
        answers = await client.repositories(batch)
        for (owner, name), answer in zip(batch, answers, strict=True):
            named = f"{owner}/{name}"
            out.append(
                (named, answer if isinstance(answer, str) else await register(store, answer))
            )
        if on_progress is not None:
            on_progress(len(out), len(repos))
    return out


async def add_routed_in_batches(
    store: Store,
    client: GitHubClient,
    repos: Sequence[tuple[str, str]],
    credentials: Credentials,
    clients: Mapping[int, GitHubClient],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[tuple[str, AddResult | str]]:
    """`add_in_batches` for a GitHub App: each repository routed to the installation that sees
    it, then each installation's repositories asked for in documents of PROBE_BATCH = 100
    with that installation's client, and registered with it. An App is installed at most once
    per account, so an installation whose repository_selection is "all" sees every repository
    of its owner: one GET /repos/{owner}/{repo}/installation routes all of them (GitHub's
    "Get a repository installation for the authenticated app"); with "selected", each
    repository is asked for. One no installation can see is registered with its backfill
    failed and the reason (as `add_repositories`); one GitHub will not serve gets GitHub's
    reason. `on_progress(done, total)` after each document."""
    app_id = credentials.app.app_id if credentials.app is not None else None
    whole_owner: dict[str, int] = {}  # owner (lower case) -> the installation seeing all of it
    routed: dict[int | None, list[tuple[str, str]]] = {}
    unseen: list[tuple[str, str, str]] = []
    for owner, name in repos:
        installation: int | None = whole_owner.get(owner.lower())
        if installation is None:
            try:
                installation, covers_owner = await credentials.route(owner, name)
            except NotVisible as exc:
                unseen.append((owner, name, unreachable_reason(exc, app_id)))
                continue
            if covers_owner and installation is not None:
                whole_owner[owner.lower()] = installation
        routed.setdefault(installation, []).append((owner, name))

    out: list[tuple[str, AddResult | str]] = []
    for installation, mine in routed.items():
        lookup = clients.get(installation, client) if installation is not None else client
        for start in range(0, len(mine), PROBE_BATCH):
            batch = mine[start : start + PROBE_BATCH]
            answers = await lookup.repositories(batch)
            for (owner, name), answer in zip(batch, answers, strict=True):
                out.append(
                    (
                        f"{owner}/{name}",
                        answer
                        if isinstance(answer, str)
                        else await register(store, answer, installation),
                    )
                )
            if on_progress is not None:
                on_progress(len(out), len(repos))
    for owner, name, reason in unseen:
        reg = await store.register_backfill(owner, name, 0)
        failed = await store.fail_unreachable_backfill(reg.backfill_state_id, reason)
        result = AddResult(
            f"{reg.owner}/{reg.name}",
            "not visible",
            "failed" if failed else reg.status,
            0,
            str(reg.backfill_state_id),
            reason=reason,
        )
        out.append((f"{owner}/{name}", result))
    if unseen and on_progress is not None:
        on_progress(len(out), len(repos))
    return out


async def add_repositories(
    store: Store,
    client: GitHubClient,
    names: list[str],
    *,
    credentials: Credentials | None = None,
    clients: Mapping[int, GitHubClient] | None = None,
) -> list[AddResult]:
    """Validate every name and ask GitHub for every count before writing anything.

    A repository already registered is left alone, unless its backfill ended (completed or
    failed): then it is reopened from its stored cursor, fetching only PRs created since.

    With a GitHub App (`credentials.is_app`), each repository is routed first: the
    installation that can see it (GET /repos/{owner}/{repo}/installation) is stored on it and
    its count asked with that installation's client (`clients[installation_id]`). A
    repository no installation can see is registered with its backfill failed, the reason
    saying so (outcome "not visible"); the others go on. Raises RepositoriesNotFound (nothing
    written) when a repository does not exist for the credential that should see it.
    """
    repos = parse_repositories(names)
    found: list[tuple[RepositoryFacts, int | None]] = []
    unseen: list[tuple[str, str, str]] = []
    missing = []
    for owner, name in repos:
        installation = None
        lookup = client
        if credentials is not None:
            try:
                installation = await credentials.installation_for(owner, name)
            except NotVisible as exc:
                app_id = credentials.app.app_id if credentials.app is not None else None
                unseen.append((owner, name, unreachable_reason(exc, app_id)))
                continue
            if installation is not None and clients:
                lookup = clients.get(installation, client)
        try:
            found.append((await lookup.repository(owner, name), installation))
        except RepositoryNotFound:
            missing.append(f"{owner}/{name}")
    if missing:
        raise RepositoriesNotFound(missing)

    results = [await register(store, facts, installation) for facts, installation in found]
    for owner, name, reason in unseen:
        reg = await store.register_backfill(owner, name, 0)
        failed = await store.fail_unreachable_backfill(reg.backfill_state_id, reason)
        results.append(
            AddResult(
                f"{reg.owner}/{reg.name}",
                "not visible",
                "failed" if failed else reg.status,
                0,
                str(reg.backfill_state_id),
                reason=reason,
            )
        )
    return results
