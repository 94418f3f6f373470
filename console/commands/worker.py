"""`backfill-console worker`: a headless worker for cron, GitHub Actions and other machines."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from core.backfill.comment_catch_up import UPKEEP_HELP, run_worker
from core.backfill.runtime import open_engine, tune_garbage_collector
from core.backfill.worker import (
    SYNC_EVERY,
    Worker,
    WorkerOptions,
    WorkerStats,
    default_worker_id,
)
from core.config import load_settings, require_database_in_ci

from . import args as args_module
from .args import positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a headless worker",
        description=(
            "Claim backfills from the database and fetch their pull requests, oldest first, "
            "committing each page in one transaction. Run as many workers, on as many "
            "machines, as you like against one database: leases make sure each backfill has "
            "one holder at a time. Ctrl-C (SIGINT/SIGTERM) finishes the page in hand and "
            "exits; a second Ctrl-C abandons it (it is fetched again later). "
            + UPKEEP_HELP
            + " (Off with --sync-every 0.)"
        ),
    )
    parser.add_argument(
        "--concurrency",
        type=args_module.concurrency,
        default=2,
        metavar="N",
        help=(
            "backfills worked at once by this process (default 2, at most "
            f"{args_module.MAX_CONCURRENCY}: each holds a database connection)"
        ),
    )
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="exit when no backfill has work left (for cron and scheduled Actions)",
    )
    parser.add_argument(
        "--max-runtime",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop cleanly after this many seconds (keep it below your job's timeout)",
    )
    parser.add_argument(
        "--id",
        dest="worker_id",
        default=None,
        metavar="NAME",
        help="name shown in the console (default: host-pid-random)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=args_module.lease_seconds,
        default=60,
        metavar="S",
        help="lease length; renewed every S/6 seconds while working (default 60)",
    )
    parser.add_argument(
        "--sync-every",
        type=args_module.sync_every_minutes,
        default=SYNC_EVERY / 60,
        metavar="MINUTES",
        help=(
            "after backfill work, sync completed repositories whose last sync is older than "
            "this (default 15, at most 43200 = 30 days; 0 disables). Syncs never dig into "
            "the budget's reserve."
        ),
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    parser.set_defaults(func=run)


def install_stop_handlers(worker: Worker) -> None:
    """First signal: finish the current page and exit. Second: abandon it."""
    loop = asyncio.get_running_loop()
    presses = 0

    def handle(sig: signal.Signals) -> None:
        nonlocal presses
        presses += 1
        logging.getLogger(__name__).warning(
            "stopping%s", " now" if presses > 1 else " after the current page"
        )
        worker.stop(abandon=presses > 1, reason=f"{sig.name} received")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle, sig)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    for noisy in ("httpx", "httpcore", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    require_database_in_ci(settings, "worker")
    tune_garbage_collector()
    options = WorkerOptions(
        worker_id=args.worker_id or default_worker_id(),
        concurrency=args.concurrency,
        until_idle=args.until_idle,
        max_runtime=args.max_runtime,
        lease_seconds=args.lease_seconds,
        heartbeat_interval=max(1.0, args.lease_seconds / 6),
        sync_every=args.sync_every * 60 or None,
    )

    async def work() -> tuple[WorkerStats, bool]:
        async with open_engine(settings, store_max_size=args.concurrency + 2) as engine:
            worker = Worker(
                engine.store,
                engine.client,
                engine.presence,
                options,
                lanes=engine.lanes,  # one client per token or App installation
                credentials=engine.credentials,
            )
            install_stop_handlers(worker)
            stats = await run_worker(engine, worker, settings.rest_api_url)
            return stats, await worker.left_undone()

    stats, undone = asyncio.run(work())
    logging.getLogger(__name__).info(
        "worker %s done: %d pages, %d syncs, %d PRs stored, %d failed chunks, %d errors",
        options.worker_id,
        stats.pages,
        stats.syncs,
        stats.prs_inserted,
        stats.failures,
        stats.errors,
    )
    if undone:
        # Everything it tried failed and the work is not done: cron or Actions must not pass.
        print(
            f"worker {options.worker_id} stored nothing: {stats.failures} chunk(s) failed, "
            f"{stats.errors} error(s), and the work is not done "
            "(see the backfills' last_error in `backfill-console stats`)",
            file=sys.stderr,
        )
        return 1
    return 0
