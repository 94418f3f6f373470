"""`backfill-console add OWNER/NAME...`: register repositories and create their backfills."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.table import Table
from rich.text import Text

from core.backfill.names import parse_repositories
from core.backfill.registry import AddResult, add_repositories, installation_clients
from core.backfill.runtime import open_engine
from core.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "add",
        help="register repositories and create their backfills",
        description=(
            "Register repositories and create a backfill for each, sized by GitHub's own count "
            "of pull requests. Every name is checked, and every repository looked up on "
            "GitHub, before anything is written. A repository whose backfill already ended is "
            "topped up from where it stopped (only PRs created since are fetched). With a "
            "GitHub App, each repository is routed to the installation that can see it; one "
            "that no installation can see is registered with its backfill failed, saying so."
        ),
    )
    parser.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    parse_repositories(args.repositories)  # bad names fail before any connection is made
    settings = load_settings()

    async def add() -> list[AddResult]:
        async with open_engine(settings, store_max_size=2) as engine:
            return await add_repositories(
                engine.store,
                engine.client,
                args.repositories,
                credentials=engine.credentials,
                clients=installation_clients(engine.lanes),
            )

    results = asyncio.run(add())
    failed = [r for r in results if r.reason]
    routed = any(r.installation_id is not None or r.reason for r in results)
    table = Table("repository", "PRs on GitHub", "result")
    if routed:
        table.add_column("installation", justify="right")
    for r in results:
        # From GitHub and the database: never read as markup.
        row: list[Text | str] = [Text(r.repository), str(r.total_prs), Text(r.outcome)]
        if routed:
            row.append(str(r.installation_id) if r.installation_id is not None else "-")
        table.add_row(*row)
    console = Console()
    console.print(table)
    for r in failed:
        console.print(Text(f"{r.repository}: backfill failed: {r.reason}", style="red"))
    return 1 if failed else 0
