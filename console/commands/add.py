"""`backfill-console add OWNER/NAME...`: register repositories and create their backfills."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from rich.console import Console
from rich.table import Table

from core.backfill.names import parse_repositories
from core.backfill.registry import AddResult, RepositoriesNotFound, add_repositories
from core.backfill.runtime import open_engine
from core.config import load_settings
from core.github.client import GitHubClient
from core.github.errors import GitHubError, TransientError
from core.github.outcomes import Action
from core.store.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "add",
        help="register repositories and create their backfills",
        description=(
            "Register repositories and create a backfill for each, sized by GitHub's own count "
            "of pull requests. Every name is checked before anything is written; then each "
            "repository is looked up and registered on its own: one that GitHub does not "
            "serve (not found, forbidden, still failing after bounded retries) is reported "
            "with the reason, the others are added, and the exit status is 1. A repository "
            "whose backfill already ended is topped up from where it stopped (only PRs "
            "created since are fetched). A wait for GitHub's budget is said on one line; "
            "Ctrl-C stops it."
        ),
    )
    parser.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    parser.set_defaults(func=run)


def failure_reason(exc: GitHubError) -> str:
    """Why one repository could not be added, in GitHub's terms (not a worker's advice)."""
    if isinstance(exc, RepositoriesNotFound):
        return "not found on GitHub (or not visible to GITHUB_TOKEN)"
    if isinstance(exc, TransientError):
        return f"{exc.reason or 'GitHub failed'}, still after {exc.attempts} tries"
    return str(exc)


async def add_each(
    store: Store, client: GitHubClient, names: list[str]
) -> list[tuple[str, AddResult | str]]:
    """Add each repository on its own (`add` and `backfill`): one that GitHub will not serve
    (not found, forbidden, still failing after the client's bounded retries) gets its reason
    instead of a result, and the others are added. Raises what stops every repository alike
    (bad token, no endpoint, an impossible reserve: `Action.STOP`)."""
    out: list[tuple[str, AddResult | str]] = []
    for name in names:
        try:
            added = await add_repositories(store, client, [name])
        except GitHubError as exc:
            if exc.action is Action.STOP:
                raise
            out.append((name, failure_reason(exc)))
            continue
        out += [(name, r) for r in added]
    return out


def report_failures(results: list[tuple[str, AddResult | str]]) -> int:
    """One stderr line per repository not added; how many."""
    failed = [(name, r) for name, r in results if isinstance(r, str)]
    for name, reason in failed:
        print(f"backfill-console: {name} not added: {reason}", file=sys.stderr)
    return len(failed)


def run(args: argparse.Namespace) -> int:
    parse_repositories(args.repositories)  # bad names fail before any connection is made
    settings = load_settings()
    # The GitHub client says every long wait on one WARNING line (core.github.client).
    logging.basicConfig(level=logging.WARNING, format="backfill-console: %(message)s")

    async def add() -> list[tuple[str, AddResult | str]]:
        async with open_engine(settings, store_max_size=2) as engine:
            return await add_each(engine.store, engine.client, args.repositories)

    results = asyncio.run(add())
    table = Table("repository", "PRs on GitHub", "result")
    for name, r in results:
        if isinstance(r, str):
            table.add_row(name, "-", f"not added: {r}")
        else:
            table.add_row(r.repository, str(r.total_prs), r.outcome)
    Console().print(table)
    return 1 if report_failures(results) else 0
