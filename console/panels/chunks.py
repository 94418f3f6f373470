"""The chunks panel: the last day's chunks by status, and the stuck ones by name."""

from __future__ import annotations

from rich.text import Text

from console.format import format_duration
from core.monitoring import StatsReport


def chunk_summary(report: StatsReport) -> Text:
    c = report.chunks
    text = Text()
    text.append(f"{c.processing:>6,} processing\n", style="cyan")
    text.append(f"{c.completed:>6,} completed\n", style="green")
    text.append(f"{c.failed:>6,} failed\n", style="red" if c.failed else "")
    text.append(f"{c.stuck:>6,} stuck", style="bold red" if c.stuck else "dim")
    for chunk in report.stuck[:5]:
        text.append(
            f"\n  {chunk.repository} #{chunk.chunk_number} "
            f"{format_duration(chunk.age_seconds)} old",
            style="bold red",
        )
    if len(report.stuck) > 5:
        text.append(f"\n  … {len(report.stuck) - 5} more", style="red")
    return text
