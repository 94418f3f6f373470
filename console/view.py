"""What the console shows, computed from one `StatsReport`: plain data and rich Text, no widgets.

Everything here is a pure function of the snapshot (and the previous one, for events), so the
UI thread only copies cells into widgets and the tests can check the numbers without a screen.
Times come from the database (`observed_at`, `waiting_until`, ages), never from the clock of
the machine the console runs on, except the budget's countdown, which is relative to `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text

from core.monitoring import StatsReport, standing
from core.store.models import BackfillProgress, StuckChunk, WorkerRecord

REPOSITORY_COLUMNS = ("Repository", "Processed", "Progress", "PRs/min", "ETA", "Status", "Chunks")
WORKER_COLUMNS = ("Worker", "Doing", "Seen")
BAR_WIDTH = 12
MAX_CHUNK_EVENTS = 8


def format_duration(seconds: float | None) -> str:
    """Short human durations: 45s, 12m, 3h 05m, 2d 4h; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def clock(moment: datetime) -> str:
    """HH:MM:SS in the console's local time zone."""
    return moment.astimezone().strftime("%H:%M:%S")


def bar(fraction: float | None, width: int = BAR_WIDTH) -> Text:
    if fraction is None:
        return Text("·" * width, style="dim")
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    text = Text("━" * filled, style="green" if fraction >= 1 else "cyan")
    text.append("━" * (width - filled), style="grey30")
    return text


_STATE_STYLE = {
    "completed": "green",
    "failed": "bold red",
    "paused": "yellow",
    "waiting": "yellow",
    "cooling": "yellow",
    "stalled": "bold red",
    "active": "bold cyan",
}


def repository_status(p: BackfillProgress) -> Text:
    """The status column: `core.monitoring.standing` in a few words, times on this clock."""
    s = standing(p)
    style = _STATE_STYLE.get(s.state, "dim")
    if s.state == "completed":
        return Text("completed" + (f": {s.why}" if s.why else ""), style=style)
    if s.state == "failed":
        return Text(f"failed: {s.why}", style=style)
    if s.state == "waiting" and p.waiting_until is not None:
        return Text(f"budget wait until {clock(p.waiting_until)}", style=style)
    if s.state == "cooling" and p.cooldown_until is not None:
        reason = f": {p.last_error}" if p.last_error else ""
        return Text(f"retry at {clock(p.cooldown_until)}{reason}", style=style)
    if s.state == "stalled" and s.since is not None:
        return Text(f"stalled since {s.since.astimezone():%H:%M}: {s.why}", style=style)
    return Text(s.state, style=style)


def repository_cells(p: BackfillProgress) -> tuple[Text | str, ...]:
    total = "?" if p.total_prs is None else f"{p.total_prs:,}"
    fraction = None if p.percent is None else p.percent / 100
    if p.total_prs is None and p.status == "completed":
        fraction = 1.0  # an empty repository is done, not unknown
    progress = bar(fraction)
    progress.append(f" {p.percent:5.1f}%" if p.percent is not None else "      ")
    rate = f"{p.prs_per_minute:,.0f}" if p.prs_per_minute else "—"
    eta = "" if p.status in ("completed", "failed") else format_duration(p.eta_seconds)
    chunks = Text(f"#{p.last_chunk_number}")
    if p.chunks_processing:
        chunks.append(f" {p.chunks_processing} running", style="cyan")
    if p.chunks_failed:
        chunks.append(f" {p.chunks_failed} failed", style="red")
    return (
        p.repository,
        f"{p.processed_prs:,}/{total}",
        progress,
        rate,
        eta,
        repository_status(p),
        chunks,
    )


def worker_cells(w: WorkerRecord, now: datetime) -> tuple[Text | str, ...]:
    name = Text("● " if w.alive else "○ ", style="green" if w.alive else "dim")
    name.append(w.id if w.host in w.id else f"{w.id}@{w.host}", style="" if w.alive else "dim")
    if not w.alive:
        doing = Text(w.status if w.status == "stopped" else "gone (no heartbeat)", style="dim")
    elif w.status == "waiting":
        doing = Text("budget wait", style="yellow")
    else:
        doing = Text(w.repository or w.detail or w.status)
    age = format_duration((now - w.heartbeat_at).total_seconds())
    return name, doing, f"{age} ago"


@dataclass(frozen=True)
class BudgetView:
    """The GraphQL budget of the most recently seen token, with the spec's metric names."""

    remaining: int
    limit: int
    metrics: dict[str, Any]
    resets_in: float
    tokens: int

    @property
    def fraction(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0

    def describe(self) -> Text:
        m = self.metrics
        style = "red" if self.fraction < 0.1 else "yellow" if self.fraction < 0.3 else "green"
        text = Text()
        text.append(f"{self.remaining:,}", style=f"bold {style}")
        text.append(f" / {self.limit:,} points · ")
        text.append(f"reset in {format_duration(self.resets_in)}\n", style="bold")
        text.append(f"percentageUsed {m['percentageUsed']}%\n")
        text.append(f"averageCostPerQuery {m['averageCostPerQuery']}\n")
        text.append(f"estimatedQueriesRemaining {m['estimatedQueriesRemaining']:,}")
        if self.tokens > 1:
            text.append(f"  (+{self.tokens - 1} more token)", style="dim")
        return text


def budget_view(budgets: Sequence[dict[str, Any]], now: datetime) -> BudgetView | None:
    if not budgets:
        return None
    newest = max(budgets, key=lambda b: b["observedAt"])
    reset_at = datetime.fromisoformat(newest["resetAt"])
    return BudgetView(
        remaining=newest["remaining"],
        limit=newest["limit"],
        metrics=newest,
        resets_in=(reset_at - now).total_seconds(),
        tokens=len(budgets),
    )


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


@dataclass(frozen=True)
class View:
    """One rendered snapshot: table rows keyed by a stable id, panel texts and new events."""

    observed_at: datetime
    repositories: dict[str, tuple[Text | str, ...]]
    workers: dict[str, tuple[Text | str, ...]]
    chunks: Text
    budget: BudgetView | None
    summary: str
    events: list[Text] = field(default_factory=list)


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


def _event(moment: datetime, message: str, style: str = "") -> Text:
    text = Text(f"{clock(moment)} ", style="dim")
    text.append(message, style=style)
    return text


def events_between(previous: StatsReport | None, current: StatsReport, now: datetime) -> list[Text]:
    """What changed since the last snapshot: chunks done, failures, waits, workers, recoveries."""
    if previous is None:
        return []
    events: list[Text] = []
    done: list[Text] = []
    done_prs = 0
    before = {p.backfill_state_id: p for p in previous.progress}
    for p in current.progress:
        old = before.get(p.backfill_state_id)
        if old is None:
            events.append(_event(now, f"{p.repository}: added ({p.total_prs or 0:,} PRs)"))
            continue
        if p.last_chunk_number > old.last_chunk_number and p.processed_prs > old.processed_prs:
            done_prs += p.processed_prs - old.processed_prs
            done.append(
                _event(
                    now,
                    f"{p.repository}: chunk #{p.last_chunk_number} done, "
                    f"+{p.processed_prs - old.processed_prs:,} PRs",
                )
            )
        if p.chunks_failed > old.chunks_failed:
            reason = f": {p.last_error}" if p.last_error else ""
            events.append(_event(now, f"{p.repository}: a chunk failed{reason}", "red"))
        if p.status != old.status and p.status in ("completed", "failed", "paused"):
            style = {"completed": "green", "failed": "bold red", "paused": "yellow"}[p.status]
            reason = f": {p.last_error}" if p.status == "failed" else ""
            events.append(_event(now, f"{p.repository}: {p.status}{reason}", style))
        elif old.status == "paused" and p.status != "paused":
            events.append(_event(now, f"{p.repository}: resumed"))
        now_standing = standing(p)
        if now_standing.state == "stalled" and standing(old).state != "stalled":
            events.append(_event(now, f"{p.repository}: {repository_status(p).plain}", "red"))
        if p.waiting_until is not None and p.waiting_until != old.waiting_until:
            events.append(
                _event(
                    now,
                    f"{p.repository}: waiting for the GraphQL budget until "
                    f"{clock(p.waiting_until)}",
                    "yellow",
                )
            )
    if len(done) > MAX_CHUNK_EVENTS:  # one line, not a screenful, when many move at once
        done = [_event(now, f"{len(done):,} repositories moved on, +{done_prs:,} PRs")]
    events = done + events
    events += _worker_events(previous.workers, current.workers, now)
    events += _stuck_events(previous.stuck, current.stuck, now)
    return events


def _worker_events(
    before: Iterable[WorkerRecord], after: Iterable[WorkerRecord], now: datetime
) -> list[Text]:
    was_alive = {w.id for w in before if w.alive}
    is_alive = {w.id for w in after if w.alive}
    events = [_event(now, f"worker {w} started", "green") for w in sorted(is_alive - was_alive)]
    events += [_event(now, f"worker {w} gone", "yellow") for w in sorted(was_alive - is_alive)]
    return events


def _stuck_events(
    before: Sequence[StuckChunk], after: Sequence[StuckChunk], now: datetime
) -> list[Text]:
    old = {c.chunk_id: c for c in before}
    new = {c.chunk_id: c for c in after}
    events = [
        _event(
            now,
            f"{c.repository}: chunk #{c.chunk_number} stuck for {format_duration(c.age_seconds)}"
            f" (worker {c.worker_id})",
            "bold red",
        )
        for key, c in new.items()
        if key not in old
    ]
    events += [
        _event(now, f"{c.repository}: chunk #{c.chunk_number} no longer stuck", "green")
        for key, c in old.items()
        if key not in new
    ]
    return events


def build_view(
    report: StatsReport,
    previous: StatsReport | None,
    now: datetime,
    *,
    filter_text: str = "",
) -> View:
    wanted = filter_text.strip().lower()
    observed = report.progress[0].observed_at if report.progress else now
    return View(
        observed_at=observed,
        repositories={
            str(p.backfill_state_id): repository_cells(p)
            for p in report.progress
            if wanted in p.repository.lower()
        },
        workers={w.id: worker_cells(w, observed) for w in report.workers[:50]},
        chunks=chunk_summary(report),
        budget=budget_view(report.budgets, now),
        summary=summary_line(report),
        events=events_between(previous, report, now),
    )
