"""What state each repository is in, for a thousand at a glance: the counts by state, the
order that puts what needs attention first, the filter by state and the whole set's ETA.

The one rule (`repository_state`) the counts, the order, the filter and the pace of a row all
use, built on `core.monitoring.standing`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from uuid import UUID

from rich.text import Text

from core.monitoring import Standing, StatsReport
from core.store.models import BackfillProgress, Freshness

# Attention first: what is broken, then what is held up, then what moves, then the rest.
STATES = ("failed", "stuck", "waiting", "active", "syncing", "pending", "completed")
# Where work goes on, so a rate and an ETA mean something (a completed repository's last
# chunks are history, not a pace; a stuck or pending one is not moving).
MOVING = frozenset(("active", "waiting", "syncing"))
STATE_STYLE = {
    "failed": "bold red",
    "stuck": "bold red",
    "waiting": "yellow",
    "active": "bold cyan",
    "syncing": "cyan",
    "pending": "",
    "completed": "green",
}


def repository_state(s: Standing, f: Freshness | None, has_stuck_chunk: bool) -> str:
    """One of `STATES` for a backfill whose standing is `s`: stalled or holding a stuck
    chunk is "stuck", a budget wait or a retry's cooldown "waiting", a completed one with a
    sync under way "syncing", queued, idle and paused ones "pending"."""
    if s.state == "failed":
        return "failed"
    if s.state == "stalled" or has_stuck_chunk:
        return "stuck"
    if s.state in ("waiting", "cooling"):
        return "waiting"
    if s.state == "active":
        return "active"
    if s.state == "completed":
        return "syncing" if f is not None and f.syncing else "completed"
    return "pending"


def stuck_ids(report: StatsReport) -> set[UUID]:
    return {c.backfill_state_id for c in report.stuck}


def state_counts(states: Iterable[str]) -> Counter[str]:
    return Counter(states)


def counts_line(counts: Mapping[str, int], chosen: str | None = None) -> Text:
    """`3 failed 1 stuck 12 waiting … 900 completed` in attention order, states with
    none left out (so it fits 80 columns at a thousand repositories); the state the table
    is filtered to (`chosen`) in reverse."""
    text = Text()
    for state in STATES:
        if not counts.get(state) and state != chosen:
            continue
        if text:
            text.append(" ")
        style = STATE_STYLE[state] + (" reverse" if state == chosen else "")
        text.append(f"{counts.get(state, 0):,} {state}", style=style.strip())
    return text or Text("no repositories yet", style="dim")


def set_pace(
    progress: Iterable[BackfillProgress], states: Mapping[UUID, str]
) -> tuple[float, float | None]:
    """The whole set's rate (PRs/min, summed over the moving backfills) and ETA (seconds:
    the PRs left in every backfill not completed or failed, at that rate); (0, None) when
    nothing moves."""
    rows = list(progress)
    rate = sum(p.prs_per_minute for p in rows if states.get(p.backfill_state_id) in MOVING)
    if rate <= 0:
        return 0.0, None
    left = sum(
        max(0, (p.total_prs or 0) - p.processed_prs)
        for p in rows
        if states.get(p.backfill_state_id) not in ("completed", "syncing", "failed")
    )
    return rate, left / rate * 60
