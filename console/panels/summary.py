"""The summary line above the panels: repositories, PRs stored, rate, workers alive."""

from __future__ import annotations

from core.monitoring import StatsReport


def summary_line(report: StatsReport) -> str:
    progress = report.progress
    done = sum(1 for p in progress if p.status == "completed")
    prs = sum(p.processed_prs for p in progress)
    rate = sum(p.prs_per_minute for p in progress)
    alive = sum(1 for w in report.workers if w.alive)
    return (
        f"{len(progress)} repositories · {done} completed · {prs:,} PRs stored · "
        f"{rate:,.0f} PRs/min · {alive} worker{'s' if alive != 1 else ''} alive"
    )
