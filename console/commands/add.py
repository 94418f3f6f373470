"""`backfill-console add OWNER/NAME...`: register repositories and create their backfills."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.backfill.names import InvalidRepositoryName, parse_repositories, parse_repository
from core.backfill.registry import (
    AddResult,
    RepositoriesNotFound,
    add_in_batches,
    add_repositories,
    add_routed_in_batches,
    installation_clients,
)
from core.backfill.runtime import Engine, open_engine
from core.config import load_settings
from core.errors import ConfigError
from core.github.errors import GitHubError, TransientError
from core.github.outcomes import Action


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
            "Ctrl-C stops it. With a GitHub App, each repository is routed to the "
            "installation that can see it; one that no installation can see is registered "
            "with its backfill failed, saying so (exit status 1)."
        ),
    )
    parser.add_argument("repositories", nargs="*", metavar="OWNER/NAME")
    parser.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help=(
            "also add the repositories listed in FILE ('-': standard input), one OWNER/NAME "
            "a line; '#' starts a comment, blank lines are skipped. Every line is checked "
            "first (bad ones are named with their line numbers, nothing is added). GitHub is "
            "asked 100 repositories a query (about a point each, not a request each), with "
            "progress on stderr"
        ),
    )
    parser.set_defaults(func=run)


def read_list(path: str) -> list[str]:
    """The OWNER/NAME lines of `path` ('-': stdin): comments and blank lines dropped. Raises
    ConfigError naming every bad line (`FILE:N: reason`) or a file that cannot be read."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--from {path}: cannot read it ({exc})") from None
    where = "stdin" if path == "-" else path
    names: list[str] = []
    bad: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            parse_repository(entry)
        except InvalidRepositoryName as exc:
            bad.append(f"{where}:{number}: {exc}")
            continue
        names.append(entry)
    if bad:
        shown = "\n".join(bad[:20]) + (f"\n... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise ConfigError(f"--from {path}: {len(bad)} bad line(s), nothing added:\n{shown}")
    if not names:
        raise ConfigError(f"--from {path}: no repositories in it")
    return names


def failure_reason(exc: GitHubError) -> str:
    """Why one repository could not be added, in GitHub's terms (not a worker's advice)."""
    if isinstance(exc, RepositoriesNotFound):
        return "not found on GitHub (or not visible to the credentials in use)"
    if isinstance(exc, TransientError):
        return f"{exc.reason or 'GitHub failed'}, still after {exc.attempts} tries"
    return str(exc)


async def add_each(engine: Engine, names: list[str]) -> list[tuple[str, AddResult | str]]:
    """Add each repository on its own (`add` and `backfill`), routed to its App installation
    when there is one: one that GitHub will not serve (not found, forbidden, still failing
    after the client's bounded retries) gets its reason instead of a result, and the others
    are added. Raises what stops every repository alike (bad token, no endpoint, an
    impossible reserve: `Action.STOP`)."""
    clients = installation_clients(engine.lanes)
    out: list[tuple[str, AddResult | str]] = []
    for name in names:
        try:
            added = await add_repositories(
                engine.store,
                engine.client,
                [name],
                credentials=engine.credentials,
                clients=clients,
            )
        except GitHubError as exc:
            if exc.action is Action.STOP:
                raise
            out.append((name, failure_reason(exc)))
            continue
        out += [(name, r) for r in added]
    return out


def report_failures(results: list[tuple[str, AddResult | str]]) -> int:
    """One stderr line per repository not added or whose backfill failed at once (no App
    installation can see it); how many."""
    failed = 0
    for name, r in results:
        reason = r if isinstance(r, str) else r.reason
        if reason is None:
            continue
        failed += 1
        what = "not added" if isinstance(r, str) else "backfill failed"
        print(f"backfill-console: {name} {what}: {reason}", file=sys.stderr)
    return failed


def progress(done: int, total: int) -> None:
    print(f"backfill-console: checked and registered {done}/{total}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    names = list(args.repositories) + (read_list(args.from_file) if args.from_file else [])
    repos = parse_repositories(names)  # bad names fail before any connection is made
    settings = load_settings()
    # The GitHub client says every long wait on one WARNING line (core.github.client).
    logging.basicConfig(level=logging.WARNING, format="backfill-console: %(message)s")

    async def add() -> list[tuple[str, AddResult | str]]:
        async with open_engine(settings, store_max_size=2) as engine:
            if args.from_file and (engine.credentials is None or not engine.credentials.is_app):
                # Personal tokens see every repository: GitHub asked 100 a document.
                return await add_in_batches(engine.store, engine.client, repos, progress)
            if args.from_file and engine.credentials is not None:
                # An App: routed (once per owner its installation sees whole), then each
                # installation's repositories asked 100 a document with its own client.
                return await add_routed_in_batches(
                    engine.store,
                    engine.client,
                    repos,
                    engine.credentials,
                    installation_clients(engine.lanes),
                    progress,
                )
            return await add_each(engine, [f"{o}/{n}" for o, n in repos])

    results = asyncio.run(add())
    added = [r for _, r in results if not isinstance(r, str)]
    routed = any(r.installation_id is not None or r.reason for r in added)
    table = Table("repository", "PRs on GitHub", "result")
    if routed:
        table.add_column("installation", justify="right")
    for name, r in results:
        # From GitHub and the database: never read as markup.
        if isinstance(r, str):
            row: list[Text | str] = [Text(name), "-", Text(f"not added: {r}")]
        else:
            row = [Text(r.repository), str(r.total_prs), Text(r.outcome)]
        if routed:
            installation = None if isinstance(r, str) else r.installation_id
            row.append(str(installation) if installation is not None else "-")
        table.add_row(*row)
    Console().print(table)
    return 1 if report_failures(results) else 0
