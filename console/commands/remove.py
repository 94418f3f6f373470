"""`backfill-console remove OWNER/NAME [--yes]`.

Deletes a repository and everything stored for it. Without `--yes` it counts what would go
and asks, on a terminal, for the name to be typed back; with no terminal to ask on (a script,
a pipe, cron) it refuses: a deletion is never implied by a missing flag.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

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
            "refused-PR records (contributors are shared and stay). Without --yes it counts "
            "what would be deleted and asks for the name on a terminal; with no terminal it "
            "deletes nothing (exit 1)."
        ),
    )
    remove.add_argument("repository", metavar="OWNER/NAME")
    remove.add_argument(
        "--yes", action="store_true", help="delete without asking (needed with no terminal)"
    )
    remove.set_defaults(func=run_remove)


def run_remove(args: argparse.Namespace) -> int:
    parse_repositories([args.repository])
    settings = load_settings()
    console = Console()

    def remove(*, dry_run: bool) -> RemovalCounts:
        async def go() -> RemovalCounts:
            async with open_store(settings, max_size=2) as store:
                return await remove_repository(store, args.repository, dry_run=dry_run)

        return asyncio.run(go())

    if not args.yes:
        counts = remove(dry_run=True)
        console.print(Text(f"would remove {counts.repository}: {counts.describe()}"))
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            console.print("nothing deleted: pass --yes to delete it (no terminal to confirm on)")
            return 1
        answer = input(f"Type {counts.repository} to delete it (anything else cancels): ")
        if answer.strip().lower() != str(counts.repository).lower():
            console.print("cancelled: nothing deleted")
            return 1
    removed = remove(dry_run=False)
    if not removed.removed:  # removed by someone else since it was looked up
        console.print(Text(f"{args.repository}: already gone, nothing deleted"))
        return 1
    console.print(Text(f"removed {removed.repository}: {removed.describe()}"))
    return 0
