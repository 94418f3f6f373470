"""`backfill-console remove OWNER/NAME --yes`.

`retry` puts failed backfills back to pending (their cursor and stored PRs stay); `remove`
deletes a repository and everything stored for it, and without `--yes` only counts it.
"""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.text import Text

from core.backfill.control import remove_repository
from core.backfill.names import parse_repositories
from core.config import load_settings
from core.store import open_store
from core.store.models import RemovalCounts


def register(subparsers: argparse._SubParsersAction) -> None:
    remove = subparsers.add_parser(
        "remove",
        help="delete a repository and everything stored for it",
        description=(
            "Delete a repository, its backfill, chunks, pull requests, reviews, comments and "
            "refused-PR records (contributors are shared and stay). Without --yes, only "
            "counts what would be deleted."
        ),
    )
    remove.add_argument("repository", metavar="OWNER/NAME")
    remove.add_argument("--yes", action="store_true", help="really delete")
    remove.set_defaults(func=run_remove)


def run_remove(args: argparse.Namespace) -> int:
    parse_repositories([args.repository])
    settings = load_settings()

    async def go() -> RemovalCounts:
        async with open_store(settings, max_size=2) as store:
            return await remove_repository(store, args.repository, dry_run=not args.yes)

    counts = asyncio.run(go())
    console = Console()
    if counts.removed:
        console.print(Text(f"removed {counts.repository}: {counts.describe()}"))
        return 0
    console.print(Text(f"would remove {counts.repository}: {counts.describe()}"))
    console.print("nothing deleted: pass --yes to delete it")
    return 1
