"""`backfill-console stats`: chunk statistics, progress per repository, the GraphQL budget."""

from __future__ import annotations

import argparse
import asyncio
import json
import re

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from console.format import format_duration
from console.panels.repositories import repository_status
from core.config import load_settings
from core.errors import BackfillError
from core.monitoring import NOT_MOVING, StatsReport, collect_stats, find_backfill
from core.store import open_store
from core.store.models import DatabaseSize

_OWNER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,38}/[A-Za-z0-9._-]{1,100}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="chunk statistics, progress and the GraphQL budget",
        description=(
            "Show chunk statistics over the last 24 hours (processing / completed / failed / "
            "stuck), progress per repository with rate and ETA, live workers, and the latest "
            "GraphQL budget of every token or App installation, as any worker last saw it."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--repo",
        type=_repository,
        metavar="OWNER/NAME",
        help="chunk statistics and progress of this repository's backfill only",
    )
    parser.set_defaults(func=run)


def _repository(text: str) -> str:
    if not _OWNER_NAME.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a repository: expected OWNER/NAME")
    return text.strip()


def run(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def gather() -> StatsReport:
        async with open_store(settings) as store:
            backfill_state_id = None
            if args.repo:
                found = await find_backfill(store, args.repo)
                if found is None:
                    raise BackfillError(f"{args.repo} has no backfill (add it first)")
                backfill_state_id = found.backfill_state_id
            return await collect_stats(
                store,
                stuck_minutes=settings.chunk_recovery_minutes,
                backfill_state_id=backfill_state_id,
                with_size=True,
                counts=True,
            )

    report = asyncio.run(gather())
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        render(report, Console())
    return 0


def render(report: StatsReport, console: Console) -> None:
    c = report.chunks
    console.print(
        f"[bold]Chunks (24 h)[/]  processing {c.processing}  completed {c.completed}  "
        f"failed {c.failed}  stuck {c.stuck}"
    )
    for chunk in report.stuck:
        console.print(
            f"  [red]stuck[/] {escape(chunk.repository)} #{chunk.chunk_number} "
            f"{format_duration(chunk.age_seconds)} old (worker {escape(str(chunk.worker_id))})"
        )
    table = Table(title="Backfills", expand=False)
    for col in ("repository", "progress", "%", "PRs/min", "ETA", "status"):
        table.add_column(col, justify="right" if col != "repository" else "left")
    for p in report.progress:
        table.add_row(
            Text(p.repository),  # from the database: never read as markup
            f"{p.processed_prs}/{p.total_prs if p.total_prs is not None else 0}"
            + (f" ({p.refused_prs} refused)" if p.refused_prs else ""),
            f"{p.percent:.2f}" if p.percent is not None else "-",
            "—" if p.status in NOT_MOVING else f"{p.prs_per_minute:.1f}",
            format_duration(p.eta_seconds),
            repository_status(p),
        )
    console.print(table)
    if report.stored:
        names = {p.repository_id: p.repository for p in report.progress}
        stored = Table(title="Stored", expand=False)
        heads = ("repository", "PRs", "reviews", "comments", "review threads", "review comments")
        for col in heads:
            stored.add_column(col, justify="left" if col == "repository" else "right")
        for n in report.stored:
            stored.add_row(
                Text(names.get(n.repository_id, str(n.repository_id))),
                f"{n.pull_requests:,}",
                f"{n.reviews:,}",
                f"{n.comments:,}",
                f"{n.review_threads:,}",
                f"{n.review_comments:,}",
            )
        console.print(stored)
    synced = [f for f in report.freshness if f.fresh_as_of is not None]
    if synced:
        fresh = Table(title="Freshness", expand=False)
        for col in ("repository", "fresh as of", "lag", "syncs", "sync"):
            fresh.add_column(col, justify="left" if col in ("repository", "sync") else "right")
        for f in synced:
            assert f.fresh_as_of is not None
            fresh.add_row(
                Text(f.repository),
                f"{f.fresh_as_of:%Y-%m-%d %H:%M:%S} UTC",
                format_duration(f.lag_seconds),
                str(f.syncs),
                "syncing" if f.syncing else "",
            )
        console.print(fresh)
    if report.size is not None:
        console.print(database_line(report.size))
    alive = [w for w in report.workers if w.alive]
    console.print(f"[bold]Workers[/]  {len(alive)} alive")
    for budget in report.budgets:
        # Whose budget: the credential's name (never a token), else its fingerprint.
        who = str(budget.get("name") or budget["tokenFingerprint"])
        console.print(
            f"[bold]{'REST' if budget.get('resource') == 'rest' else 'GraphQL'} budget[/] "
            f"{escape(who)}  remaining "
            f"{budget['remaining']}/{budget['limit']}  ({budget['percentageUsed']:.2f}% used, "
            f"resets {budget['resetAt']})"
        )
        server = budget.get("serverTime")
        if server:
            console.print(
                f"  server time {server['usedSeconds']:.1f}/{server['budgetSeconds']:g} s "
                f"per {server['windowSeconds']:g} s window"
                f"  over {server['targetSeconds']:g} s target {server['answersOverTarget']}"
                f"  502/504 {server['timeouts']}  secondary limits {server['secondaryLimits']}"
                f" (last hour)  {server['prsPerHour']:,.0f} PRs/hour"
            )


def database_line(size: DatabaseSize) -> str:
    """The database's size and growth, saying how the growth is computed."""
    per_pr = (
        f"{format_bytes(size.bytes_per_pr)}/PR" if size.bytes_per_pr is not None else "no PR yet"
    )
    return (
        f"[bold]Database[/]  {format_bytes(size.database_bytes)}  growing "
        f"{format_bytes(size.bytes_per_day)}/day ({per_pr} x {size.prs_last_day:,} PRs stored "
        f"in the last 24 h; {size.prs:,} PRs in {format_bytes(size.pr_bytes)})"
    )


def format_bytes(count: int) -> str:
    """Bytes in 1024 steps: 512 B, 4.0 KB, 1.6 GB."""
    if count < 1024:
        return f"{count} B"
    value, unit = count / 1024, 0
    while value >= 1024 and unit < 2:
        value, unit = value / 1024, unit + 1
    return f"{value:.1f} {('KB', 'MB', 'GB')[unit]}"
