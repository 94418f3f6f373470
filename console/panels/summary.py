"""The summary above the panels: repositories, PRs stored, the whole set's pace and ETA
(only while work goes on), workers alive; then the counts by state."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from rich.text import Text

from console.format import format_duration
from console.panels.states import counts_line, set_pace, state_counts
from core.monitoring import StatsReport


def summary_line(
    report: StatsReport, states: Mapping[UUID, str], chosen: str | None = None
) -> Text:
    """Two lines: the totals, with a rate and an ETA for the whole set only when some
    backfill moves (`states`: each backfill's `repository_state`); the counts by state,
    `chosen` (the state filter) marked."""
    progress = report.progress
    prs = sum(p.processed_prs for p in progress)
    alive = sum(1 for w in report.workers if w.alive)
    rate, eta = set_pace(progress, states)
    # Short words: the line fits 80 columns at a thousand repositories and millions of PRs.
    parts = [f"{len(progress):,} repos", f"{prs:,} PRs"]
    if rate > 0:
        parts.append(f"{rate:,.0f} PRs/min")
        if eta:
            parts.append(f"ETA {format_duration(eta)}")
    parts.append(f"{alive} worker{'s' if alive != 1 else ''} alive")
    text = Text(" · ".join(parts))
    text.append("\n")
    text.append_text(counts_line(state_counts(states.values()), chosen))
    return text
