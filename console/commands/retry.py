"""`backfill-console retry OWNER/NAME...`: failed backfills back to pending once the cause is
fixed; their cursor and stored PRs stay, so a worker resumes each where it stopped. Every
name is looked up before anything changes: one unknown name retries none.
"""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.text import Text

from core.backfill.control import RetryResult, retry_repositories
from core.backfill.names import parse_repositories
from core.config import load_settings
from core.store import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    retry = subparsers.add_parser(
        "retry",
        help="put failed backfills back to pending once the cause is fixed",
        description=(
            "Reset failed backfills to pending, keeping their cursor and every PR stored: a "
            "worker resumes each where it stopped. Backfills that are not failed are left "
            "alone and said so (exit 1)."
        ),
    )
    retry.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    retry.set_defaults(func=run_retry)


def run_retry(args: argparse.Namespace) -> int:
    parse_repositories(args.repositories)
    settings = load_settings()

    async def go() -> list[RetryResult]:
        async with open_store(settings, max_size=2) as store:
            return await retry_repositories(store, args.repositories)

    results = asyncio.run(go())
    console = Console()
    for result in results:
        console.print(Text(f"{result.repository}: {result.outcome}"))
    return 0 if all(r.retried for r in results) else 1
