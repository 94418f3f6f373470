"""`backfill-console sync [OWNER/NAME...]`: bring completed repositories up to date now."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from rich.console import Console
from rich.markup import escape

from console.view import format_duration
from core.backfill.names import parse_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions, default_worker_id
from core.config import load_settings
from core.errors import BackfillError
from core.store.models import Freshness

from . import args as args_module
from .worker import install_stop_handlers


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="sync completed repositories with GitHub now",
        description=(
            "Fetch what changed on GitHub since each repository's last sync (pull requests "
            "by most recently updated, down to its watermark minus a safety margin) and "
            "replace the changed pull requests with their reviews, comments and labels, one "
            "transaction per page. With no OWNER/NAME, every completed repository. A "
            "repository another worker is syncing right now is skipped. Workers also sync "
            "on their own (worker --sync-every)."
        ),
    )
    parser.add_argument("repositories", nargs="*", metavar="OWNER/NAME")
    parser.add_argument(
        "--concurrency",
        type=args_module.concurrency,
        default=2,
        metavar="N",
        help="repositories synced at once (default 2)",
    )
    parser.add_argument("--json", action="store_true", help="print the freshness as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    wanted = parse_repositories(args.repositories) if args.repositories else []
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = load_settings()
    console = Console()

    async def work() -> list[Freshness]:
        async with open_engine(settings, store_max_size=args.concurrency + 2) as engine:
            rows = await engine.store.freshness()
            by_name = {row.repository.lower(): row for row in rows}
            chosen = [row for row in rows if row.status == "completed"]
            if wanted:
                chosen = []
                for owner, name in wanted:
                    row = by_name.get(f"{owner}/{name}".lower())
                    if row is None:
                        raise BackfillError(f"{owner}/{name} has no backfill (add it first)")
                    if row.status != "completed":
                        raise BackfillError(
                            f"{row.repository} is not synced: its backfill is {row.status} "
                            "(the backfill itself will reach the changes)"
                        )
                    chosen.append(row)
            ids = tuple(row.backfill_state_id for row in chosen)
            if not ids:
                return []
            await engine.store.request_sync(list(ids))
            worker = Worker(
                engine.store,
                engine.client,
                engine.presence,
                WorkerOptions(
                    worker_id=default_worker_id(),
                    concurrency=args.concurrency,
                    until_idle=True,
                    only=ids,
                    sync_only=True,
                ),
                on_event=lambda message: console.print(escape(message)),
                lanes=engine.lanes,  # each repository synced with its installation's client
                credentials=engine.credentials,
            )
            install_stop_handlers(worker)
            await worker.run()
            return [row for row in await engine.store.freshness() if row.backfill_state_id in ids]

    rows = asyncio.run(work())
    if args.json:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return 0
    if not rows:
        console.print("no completed repository to sync")
    for row in rows:
        state = "still syncing (another worker)" if row.syncing else "fresh"
        console.print(
            f"{escape(row.repository)}: {state} as of "
            f"{row.fresh_as_of:%Y-%m-%d %H:%M:%S} UTC (lag {format_duration(row.lag_seconds)})"
        )
    return 0
