"""`backfill-console sync [OWNER/NAME...]`: bring completed repositories up to date now."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from uuid import UUID

from rich.console import Console
from rich.markup import escape

from console.format import format_duration
from core.backfill.comment_catch_up import UPKEEP_HELP, UpkeepReport, comment_upkeep
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
            "on their own (worker --sync-every). Then the catch-up of conversation comments and "
            "inline review comments: edits and new comments GitHub does not signal on the PR, "
            "read by REST since each repository's watermarks; with --verify also the "
            "verification of deletions (every comment id and review comment id GitHub still "
            "has, listed; stored ones it lacks deleted). " + UPKEEP_HELP
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
    parser.add_argument(
        "--verify",
        action="store_true",
        help=(
            "also verify deletions now: delete stored comments and review comments GitHub no "
            "longer has"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the freshness as JSON")
    parser.set_defaults(func=run)


def describe(done: UpkeepReport) -> str:
    """One line of a repository's comment (or review comment) catch-up or verification."""
    cost = f"{done.requests} REST requests, {done.not_modified} of them 304 (free)"
    what = done.listing.replace("_", " ")
    if done.kind == "verify":
        return (
            f"{done.repository}: {what} verified: {done.listed} on GitHub, "
            f"{done.deleted} deleted ({cost})"
            + (
                f"; {done.left} more not yet confirmed gone: the next verification (a "
                "worker's next pass, or `sync --verify` again) goes on"
                if done.left
                else ""
            )
        )
    return (
        f"{done.repository}: {what} caught up: {done.updated} edited, {done.inserted} new ({cost})"
    )


def run(args: argparse.Namespace) -> int:
    wanted = parse_repositories(args.repositories) if args.repositories else []
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = load_settings()
    console = Console()

    async def work() -> tuple[list[Freshness], set[UUID], set[UUID]]:
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
                return [], set(), set()
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
            async with comment_upkeep(engine, settings.rest_api_url) as upkeep:
                if upkeep is not None:
                    for done in await upkeep.run(only=ids, verify_now=args.verify):
                        if not args.json:
                            console.print(escape(describe(done)))
            rows = [row for row in await engine.store.freshness() if row.backfill_state_id in ids]
            # Still open (the rule is SQL's, sync_request_pending): another worker holds its
            # lease and walks it now, or this run could not finish it. A page it could not
            # store (GitHub's error, or the database dropped the commit) leaves the repository
            # resting a while and ends this run: it must not pass as fresh.
            held = {
                p.backfill_state_id
                for p in await engine.store.backfill_progress()
                if p.leased_by is not None
                and p.lease_expires_at is not None
                and p.lease_expires_at > p.observed_at
            }
            open_ = {
                row.backfill_state_id
                for row in rows
                if await engine.store.sync_request_pending(row.backfill_state_id)
            }
            return rows, open_ & held, open_ - held

    rows, elsewhere, unsynced = asyncio.run(work())
    if args.json:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return 1 if unsynced else 0
    if not rows:
        console.print("no completed repository to sync")
    for row in rows:
        name = escape(row.repository)
        as_of = f"{row.fresh_as_of:%Y-%m-%d %H:%M:%S} UTC" if row.fresh_as_of else "never synced"
        if row.backfill_state_id in unsynced:
            console.print(
                f"{name}: not synced: its walk did not finish (see above); the data is still "
                f"as of {as_of}: run sync again"
            )
        elif row.backfill_state_id in elsewhere:
            console.print(f"{name}: still syncing (another worker); as of {as_of} until then")
        else:
            console.print(f"{name}: fresh as of {as_of} (lag {format_duration(row.lag_seconds)})")
    return 1 if unsynced else 0
