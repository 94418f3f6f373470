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
STATES = ("failed", "stuck", "waiting", "active", "syncing", "pending", "paused", "completed")
# Where work goes on, so a rate and an ETA mean something: a backfill storing PRs, a sync
# under way. Not a budget wait or a retry's cooldown (nothing is fetched until it ends), nor
# a completed, stuck, pending or paused one (a completed one's last chunks are history).
MOVING = frozenset(("active", "syncing"))
STATE_STYLE = {
    "failed": "bold red",
    "stuck": "bold red",
    "waiting": "yellow",
    "active": "bold cyan",
    "syncing": "cyan",
    "pending": "",
    "paused": "yellow",
    "completed": "green",
}
# The counts line's words when the whole ones do not fit (`counts_line`).
SHORT = {
    "failed": "failed",
    "stuck": "stuck",
    "waiting": "wait",
    "active": "active",
    "syncing": "sync",
    "pending": "pend",
    "paused": "paused",
    "completed": "done",
}
# What the counts line may take: the summary's width at 80 columns (78, its padding off).
COUNTS_WIDTH = 78


def repository_state(s: Standing, f: Freshness | None, has_stuck_chunk: bool) -> str:
    """One of `STATES` for a backfill whose standing is `s`. The precedence, decided here
    once: failed first; then a backfill still storing (`standing` "active": a live lease
    and PRs stored within `STALL_AFTER`) is "active", even with a stuck chunk (an old chunk
    of a killed worker while other chunks commit: it keeps its rate and ETA, and the row
    names its stuck chunks, `repository_cells`); then stalled, or holding a stuck chunk
    while not storing, is "stuck"; a budget wait or a retry's cooldown "waiting"; a
    completed one with a sync under way "syncing"; paused "paused"; queued and idle ones
    "pending"."""
    if s.state == "failed":
        return "failed"
    if s.state == "active":
        return "active"
    if s.state == "stalled" or has_stuck_chunk:
        return "stuck"
    if s.state in ("waiting", "cooling"):
        return "waiting"
    if s.state == "completed":
        return "syncing" if f is not None and f.syncing else "completed"
    if s.state == "paused":
        return "paused"
    return "pending"


def stuck_counts(report: StatsReport) -> Counter[UUID]:
    """Backfill id -> how many of its chunks are stuck (`StatsReport.stuck`)."""
    return Counter(c.backfill_state_id for c in report.stuck)


def state_counts(states: Iterable[str]) -> Counter[str]:
    return Counter(states)


def counts_line(counts: Mapping[str, int], chosen: str | None = None) -> Text:
    """`3 failed 1 stuck 12 waiting … 900 completed` in attention order, states with none
    left out; the state the table is filtered to (`chosen`) in reverse, shown even at 0.
    When the whole words would pass `COUNTS_WIDTH` (80 columns with ~100 repositories in
    every state), the short ones (`SHORT`: "12 wait", "900 done"): every state with
    repositories stays on the line."""
    shown = [state for state in STATES if counts.get(state) or state == chosen]
    if not shown:
        return Text("no repositories yet", style="dim")
    words = [f"{counts.get(state, 0):,} {state}" for state in shown]
    if len(" ".join(words)) > COUNTS_WIDTH:
        words = [f"{counts.get(state, 0):,} {SHORT[state]}" for state in shown]
    text = Text()
    for state, word in zip(shown, words, strict=True):
        if text:
            text.append(" ")
        style = STATE_STYLE[state] + (" reverse" if state == chosen else "")
        text.append(word, style=style.strip())
    return text


def set_pace(
    progress: Iterable[BackfillProgress], states: Mapping[UUID, str]
) -> tuple[float, float | None]:
    """The whole set's rate (PRs/min, summed over the backfills where work goes on,
    `MOVING`) and ETA (seconds: the PRs left in every backfill not completed, failed or
    paused, at that rate); (0, None) when no work goes on (every one waiting for the
    budget, say)."""
    rows = list(progress)
    rate = sum(p.prs_per_minute for p in rows if states.get(p.backfill_state_id) in MOVING)
    if rate <= 0:
        return 0.0, None
    left = sum(
        max(0, (p.total_prs or 0) - p.processed_prs)
        for p in rows
        if states.get(p.backfill_state_id) not in ("completed", "syncing", "failed", "paused")
    )
    return rate, left / rate * 60
