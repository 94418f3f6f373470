"""`backfill-console backfill OWNER/NAME...`: add, then work until those backfills end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from console.format import format_duration
from core.backfill.comment_catch_up import UPKEEP_HELP, run_worker
from core.backfill.names import parse_repositories
from core.backfill.registry import AddResult
from core.backfill.runtime import Engine, open_engine, tune_garbage_collector
from core.backfill.worker import Worker, WorkerOptions
from core.config import load_settings
from core.store.models import BackfillProgress

from .add import add_each, report_failures
from .args import MAX_CONCURRENCY, bounded_int
from .worker import install_stop_handlers

# Like `worker --concurrency`: each backfill worked at once holds a database connection.
WORKERS = bounded_int(1, MAX_CONCURRENCY, "each one holds a database connection")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="add repositories and backfill them now, with progress bars",
        description=(
            "Register the repositories (like `add`), then work on their backfills in this "
            "process until every one has completed or failed, showing progress, rate, ETA and "
            "the GraphQL budget. Other workers (any machine) may help at the same time. "
            "A repository GitHub will not serve is reported and left out; the others go on. "
            "Exit status 1 if a backfill failed or a repository was not added. Once they are "
            "done, one pass of the workers' comment upkeep over these repositories (what is "
            "due: the first catch-up and verification). " + UPKEEP_HELP
        ),
    )
    parser.add_argument("repositories", nargs="+", metavar="OWNER/NAME")
    parser.add_argument(
        "--workers",
        type=WORKERS,
        default=2,
        metavar="N",
        help=f"backfills worked at once (default 2, at most {MAX_CONCURRENCY})",
    )
    parser.set_defaults(func=run)


def _status(p: BackfillProgress) -> str:
    if p.waiting_until is not None and p.status == "active":
        return f"waiting until {p.waiting_until.astimezone():%H:%M:%S}"
    if p.status == "failed":
        return f"failed: {p.last_error}"
    return p.status


class ProgressView:
    """Rich progress bars fed from the engine's own numbers (backfill_progress)."""

    def __init__(self, engine: Engine, ids: tuple[UUID, ...], console: Console) -> None:
        self.engine = engine
        self.ids = set(ids)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self.tasks: dict[UUID, TaskID] = {}
        self.budget = self.progress.add_task(
            "GraphQL budget", total=None, rate="", eta="-", status="points left"
        )
        self.last: list[BackfillProgress] = []

    async def refresh(self) -> None:
        everything = await self.engine.store.backfill_progress()
        rows = [p for p in everything if p.backfill_state_id in self.ids]
        self.last = rows
        for p in rows:
            # GitHub reported no PRs yet: an empty repository is complete at 0 of 0.
            total = p.total_prs or (p.processed_prs if p.status == "completed" else None)
            task = self.tasks.get(p.backfill_state_id)
            if task is None:
                task = self.tasks[p.backfill_state_id] = self.progress.add_task(
                    p.repository, total=None, rate="", eta="-", status=""
                )
            self.progress.update(
                task,
                total=total,
                completed=p.processed_prs,
                rate=f"{p.prs_per_minute:,.0f} PRs/min",
                eta=format_duration(p.eta_seconds),
                status=_status(p),
            )
        metrics = self.engine.client.metrics
        if metrics is not None:
            self.progress.update(
                self.budget,
                total=metrics.limit,
                completed=metrics.remaining,
                rate=f"{metrics.average_cost_per_query:.1f} pts/query",
                eta=f"{metrics.reset_at.astimezone():%H:%M:%S}",
                status=f"{metrics.estimated_queries_remaining:,} queries left",
            )

    async def follow(self, interval: float = 1.0) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.refresh()
            await asyncio.sleep(interval)


def run(args: argparse.Namespace) -> int:
    parse_repositories(args.repositories)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = load_settings()
    tune_garbage_collector()
    console = Console(stderr=False)

    failed_to_add: list[tuple[str, AddResult | str]] = []

    async def work() -> list[BackfillProgress]:
        async with open_engine(settings, store_max_size=args.workers + 3) as engine:
            results = await add_each(engine, args.repositories)
            # Not added; one whose backfill failed at once is among the unfinished below.
            failed_to_add.extend((n, r) for n, r in results if isinstance(r, str))
            ids = tuple(UUID(r.backfill_state_id) for _, r in results if not isinstance(r, str))
            if not ids:  # none added: work on nothing (an empty `only` would mean everything)
                return []
            worker = Worker(
                engine.store,
                engine.client,
                engine.presence,
                WorkerOptions(concurrency=args.workers, until_idle=True, only=ids, idle_interval=1),
                lanes=engine.lanes,
                credentials=engine.credentials,
            )
            install_stop_handlers(worker)
            view = ProgressView(engine, ids, console)
            with view.progress:
                follower = asyncio.create_task(view.follow())
                try:
                    # The comments' catch-up and verification on the workers' schedule: one
                    # pass of what is due once the backfills are done.
                    await run_worker(engine, worker, settings.rest_api_url)
                finally:
                    follower.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await follower
                    await view.refresh()
            return view.last

    final = asyncio.run(work())
    unfinished = [p for p in final if p.status != "completed"]
    for p in unfinished:
        console.print(f"[red]{p.repository}[/]: {_status(p)}")
    not_added = report_failures(failed_to_add)
    return 1 if unfinished or not_added else 0
