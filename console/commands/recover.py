"""`backfill-console recover`: stuck-chunk recovery by hand (the workflow runs it every 2 h).

Exit 0 when recovery ran; 1 when some chunk could not be processed (its row was held by
another transaction: the next run retries it); 2 for bad flags, before anything is done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from console.commands.args import cleanup_days, stuck_minutes
from core.config import load_settings, require_database_in_ci
from core.recovery import DEFAULT_CLEANUP_DAYS, RecoveryReport, recover
from core.store import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recover",
        help="recover stuck chunks and prune old completed ones",
        description=(
            "Find chunks 'processing' for longer than the threshold; mark each completed when "
            "at least 80% of its pull requests were stored (flagged recovered), otherwise "
            "failed ('partial x/y', 'no PR data'); release expired leases so backfills resume "
            "from their committed cursor; delete completed chunks older than the cleanup age. "
            "Safe to run from several places at once. --dry-run shows exactly what would be "
            "done and writes nothing."
        ),
    )
    parser.add_argument(
        "--stuck-threshold",
        type=stuck_minutes,
        default=None,
        metavar="MINUTES",
        help="a chunk processing longer than this is stuck (default: CHUNK_RECOVERY_MINUTES, 30)",
    )
    parser.add_argument(
        "--cleanup-days",
        type=cleanup_days,
        default=DEFAULT_CLEANUP_DAYS,
        metavar="DAYS",
        help=f"delete completed chunks older than this (default: {DEFAULT_CLEANUP_DAYS})",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    require_database_in_ci(settings, "recover")
    stuck_minutes = args.stuck_threshold or settings.chunk_recovery_minutes

    async def go() -> RecoveryReport:
        async with open_store(settings, max_size=2) as store:
            return await recover(
                store,
                stuck_minutes=stuck_minutes,
                cleanup_days=args.cleanup_days,
                dry_run=args.dry_run,
            )

    report = asyncio.run(go())
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        render(report, Console())
    return 0 if report.ok else 1


def totals(report: RecoveryReport) -> dict[str, int]:
    return {
        "stuck": len(report.chunks),
        "completed": report.to_complete,
        "failed": report.to_fail,
        "applied": report.count("applied"),
        "skipped": report.count("skipped"),
        "busy": report.count("busy"),
        "leases_expired": len(report.leases),
        "leases_released": sum(1 for lease in report.leases if lease.outcome == "applied"),
        "cleanup_eligible": report.cleanup.eligible,
        "cleanup_deleted": report.cleanup.deleted,
    }


def totals_at_least(report: RecoveryReport) -> dict[str, bool]:
    """Which totals are lower bounds: the cleanup's count stopped at its cap."""
    return {"cleanup_eligible": report.cleanup.eligible_at_least}


def at_least(count: int, capped: bool) -> str:
    """A count as text: "1,234", or "100,000+" when it stopped at its cap."""
    return f"{count:,}+" if capped else f"{count:,}"


def to_json(report: RecoveryReport) -> dict[str, Any]:
    return {
        **report.model_dump(mode="json"),
        "totals": totals(report),
        "totals_at_least": totals_at_least(report),
        "ok": report.ok,
    }


def _age(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def render(report: RecoveryReport, console: Console) -> None:
    if report.dry_run:
        console.print(
            "[bold black on yellow] DRY RUN [/] nothing was written; a live run would do this:"
        )
    console.print(
        f"Stuck: processing for more than {report.stuck_minutes} min "
        f"(started before {report.stuck_before:%Y-%m-%d %H:%M:%S %Z})"
    )
    table = Table(title="Stuck chunks", expand=False)
    for col in ("repository", "chunk", "worker", "age", "stored", "decision", "reason", "outcome"):
        table.add_column(col, justify="right" if col in ("chunk", "age", "stored") else "left")
    for c in report.chunks:
        colour = "green" if c.decision == "completed" else "red"
        table.add_row(  # Text: what the database says is never read as markup
            Text(c.repository),
            str(c.chunk_number),
            Text(c.worker_id or "-"),
            _age(c.age_seconds),
            f"{c.stored}/{c.expected}",
            Text(c.decision, style=colour),
            Text(c.reason),
            Text(c.outcome),
        )
    console.print(table)
    t = totals(report)
    verb = "would" if report.dry_run else "did"
    console.print(
        f"[bold]Totals[/]  stuck {t['stuck']}: {t['completed']} completed, {t['failed']} failed"
        + (
            ""
            if report.dry_run
            else f"  (applied {t['applied']}, skipped {t['skipped']}, busy {t['busy']})"
        )
    )
    for lease in report.leases:
        console.print(
            f"lease of {escape(lease.repository)} held by {escape(lease.leased_by or '-')} "
            f"expired {lease.lease_expires_at:%Y-%m-%d %H:%M:%S}: {escape(lease.outcome)}"
        )
    released = (
        f"would release {t['leases_expired']}"
        if report.dry_run
        else f"released {t['leases_released']}"
    )
    console.print(f"[bold]Leases[/]  {t['leases_expired']} expired; {released}")
    cleanup = report.cleanup
    per = ", ".join(f"{escape(b.repository)} {b.chunks}" for b in cleanup.per_backfill)
    eligible = at_least(cleanup.eligible, cleanup.eligible_at_least)
    console.print(
        f"[bold]Cleanup[/]  completed chunks older than {report.cleanup_days} days "
        f"(before {cleanup.cutoff:%Y-%m-%d %H:%M}): {eligible} eligible"
        + (
            f" (counted to {cleanup.count_cap:,}, oldest first)"
            if cleanup.eligible_at_least
            else ""
        )
        + (f" ({per})" if per else "")
        + (
            f"; {verb} delete {eligible}"
            if report.dry_run
            else f"; deleted {cleanup.deleted} in {cleanup.batches} batch(es)"
        )
    )
    if report.unprocessed:
        console.print(
            f"[bold red]{len(report.unprocessed)} chunk(s) could not be processed[/] (held by "
            "another transaction); the next run retries them"
        )
