"""`backfill-console add OWNER/NAME...`: register repositories and create their backfills."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.table import Table

from core.backfill.names import parse_repositories
from core.backfill.registry import AddResult, add_repositories
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
            "topped up from where it stopped (only PRs created since are fetched)."
        ),
    )
    parser.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    parse_repositories(args.repositories)  # bad names fail before any connection is made
    settings = load_settings()

    async def add() -> list[AddResult]:
        async with open_engine(settings, store_max_size=2) as engine:
            return await add_repositories(engine.store, engine.client, args.repositories)

    results = asyncio.run(add())
    table = Table("repository", "PRs on GitHub", "result")
    for r in results:
        table.add_row(r.repository, str(r.total_prs), r.outcome)
    Console().print(table)
    return 0
