"""What the console shows, computed from one `StatsReport`: plain data and rich Text, no widgets.

Everything here is a pure function of the snapshot (and the previous one, for events), so the
UI thread only copies cells into widgets and the tests can check the numbers without a screen.
Times come from the database (`observed_at`, `waiting_until`, ages), never from the clock of
the machine the console runs on, except the budget's countdown, which is relative to `now`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from core.monitoring import Standing, StatsReport, standing
from core.store.models import (
    BackfillDetail,
    BackfillProgress,
    ChunkRecord,
    Freshness,
    StuckChunk,
    WorkerRecord,
)


@dataclass(frozen=True)
class ColumnSpec:
    """A table column: shown when its turn (`priority`, 0 first) comes and `least` cells fit;
    never wider than `most`. Long text ends with an ellipsis (the detail screen has it whole)."""

    name: str
    priority: int = 0
    least: int = 4
    most: int | None = None


# The lag (how old the data of a completed repository is, issue 17) comes before the progress
# bar: at 80 columns the bar goes first, as the count says the same in figures.
REPOSITORY_COLUMNS = (
    ColumnSpec("Repository", 0, least=12, most=40),
    ColumnSpec("Processed", 2, least=13),
    ColumnSpec("Progress", 5, least=19, most=19),
    ColumnSpec("PRs/min", 6, least=7),
    ColumnSpec("ETA", 3, least=5),
    ColumnSpec("Lag", 4, least=6),
    ColumnSpec("Status", 1, least=16),
    ColumnSpec("Chunks", 7, least=6, most=24),
)
WORKER_COLUMNS = (
    ColumnSpec("Worker", 0, least=10, most=32),
    ColumnSpec("Doing", 1, least=10),
    ColumnSpec("Seen", 2, least=6),
)
SORTS = ("name", "progress", "rate", "ETA", "status")
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


def layout_columns(
    specs: Sequence[ColumnSpec], natural: dict[str, int], available: int, padding: int = 2
) -> dict[str, int]:
    """Column widths for `available` cells, in display order: columns join by priority while
    their least width fits (the first that does not ends the list), then grow by priority
    towards their widest cell (`natural`), bounded ones first, so free text (a status, an
    error) takes what is left."""
    widths: dict[str, int] = {}
    left = available
    ranked = sorted(specs, key=lambda spec: spec.priority)
    for spec in ranked:
        need = min(spec.least, natural.get(spec.name, spec.least))
        if left < need + padding:
            break  # what is left goes to the columns shown, not to a lower priority
        widths[spec.name] = need
        left -= need + padding
    for spec in sorted(ranked, key=lambda spec: spec.most is None):
        if spec.name not in widths:
            continue
        target = natural.get(spec.name, spec.least)
        if spec.most is not None:
            target = min(target, spec.most)
        grow = max(0, min(left, target - widths[spec.name]))
        widths[spec.name] += grow
        left -= grow
    return {spec.name: widths[spec.name] for spec in specs if spec.name in widths}


def fit(cell: Text, width: int) -> Text:
    """`cell` cut to `width` cells, ending with an ellipsis when cut."""
    if cell.cell_len <= width:
        return cell
    cut = cell.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


_SEVERITY = ("failed", "stalled", "cooling", "waiting", "idle", "queued", "paused", "active")


def sort_order(progress: Sequence[BackfillProgress], by: str | None) -> list[str]:
    """Backfill ids in the order `by` wants: name A-Z, progress and rate highest first, ETA
    soonest first (unknown last), status most urgent first (failed, stalled, ...)."""
    rows = list(progress)
    if by == "name":
        rows.sort(key=lambda p: p.repository.lower())
    elif by == "progress":
        rows.sort(key=lambda p: (-(p.percent or 0.0), p.repository.lower()))
    elif by == "rate":
        rows.sort(key=lambda p: (-p.prs_per_minute, p.repository.lower()))
    elif by == "ETA":
        rows.sort(key=lambda p: (p.eta_seconds is None, p.eta_seconds or 0, p.repository.lower()))
    elif by == "status":

        def urgency(p: BackfillProgress) -> int:
            state = standing(p).state
            return _SEVERITY.index(state) if state in _SEVERITY else len(_SEVERITY)

        rows.sort(key=lambda p: (urgency(p), p.repository.lower()))
    return [str(p.backfill_state_id) for p in rows]


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


def sync_requested(f: Freshness | None) -> bool:
    """A "sync now" not yet honoured: the data is not fresh as of the request (the rule of
    SQL's `sync_request_open`, which claim_sync follows: a walk resumed from before the
    request does not honour it)."""
    if f is None or f.sync_requested_at is None:
        return False
    return f.fresh_as_of is None or f.sync_requested_at > f.fresh_as_of


def repository_status(p: BackfillProgress, f: Freshness | None = None) -> Text:
    """The status column: `core.monitoring.standing` in a few words, times on this clock;
    a completed repository says when a sync is under way or asked for (`f`, issue 17)."""
    s = standing(p)
    style = _STATE_STYLE.get(s.state, "dim")
    if s.state == "completed" and f is not None and f.syncing:
        return Text("syncing", style="bold cyan")
    if s.state == "completed" and sync_requested(f):
        return Text("sync requested", style="cyan")
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


def lag_cell(f: Freshness | None) -> str:
    """How old a completed repository's data is (the database's clock); empty while its
    backfill runs (the backfill is the news)."""
    return "" if f is None or f.lag_seconds is None else format_duration(f.lag_seconds)


def repository_cells(p: BackfillProgress, f: Freshness | None = None) -> tuple[Text | str, ...]:
    """One repository row. The clock enters only through `standing` (via the status) and the
    lag: `row_inputs` relies on it to reuse a row's cells while neither changed."""
    total = "?" if p.total_prs is None else f"{p.total_prs:,}"
    fraction = None if p.percent is None else p.percent / 100
    if p.total_prs is None and p.status == "completed":
        fraction = 1.0  # an empty repository is done, not unknown
    progress = bar(fraction)
    progress.append(f" {p.percent:5.1f}%" if p.percent is not None else "      ")
    rate = f"{p.prs_per_minute:,.0f}" if p.prs_per_minute else "—"
    eta = "" if p.status == "completed" else format_duration(p.eta_seconds)
    chunks = Text(f"#{p.last_chunk_number}")
    if p.chunks_processing:
        chunks.append(f" {p.chunks_processing} running", style="cyan")
    if p.chunks_failed:
        chunks.append(f" {p.chunks_failed} failed", style="red")
    refused = f" ({p.refused_prs:,} refused)" if p.refused_prs else ""
    return (
        p.repository,
        f"{p.processed_prs:,}/{total}{refused}",
        progress,
        rate,
        eta,
        lag_cell(f),
        repository_status(p, f),
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


BUDGET_LINES = 4  # budgets listed by name in the panel; the rest are counted ("+N more")
_INSTALLATION = re.compile(r"installation (\d+) \((.*)\)")


def short_budget_name(name: str) -> str:
    """ "installation 42 (octo-org)" -> "#42 octo-org": the id first, so a narrow panel cuts
    the account, not the number; tokens keep their name ("token 1a2b3c4d")."""
    found = _INSTALLATION.fullmatch(name)
    return f"#{found.group(1)} {found.group(2)}" if found else name


def _budget_style(fraction: float) -> str:
    return "red" if fraction < 0.1 else "yellow" if fraction < 0.3 else "green"


@dataclass(frozen=True)
class BudgetLine:
    """One token's or App installation's budget: whose (never a token), what is left, when
    it is full again."""

    name: str
    remaining: int
    limit: int
    resets_in: float

    @property
    def fraction(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class BudgetView:
    """The GraphQL budgets: with one token its spec metrics, as before; with several tokens
    or App installations each by name (remaining/limit, reset), lowest first, and their sum
    (what the gauge and the sparkline show)."""

    remaining: int
    limit: int
    metrics: dict[str, Any]
    resets_in: float
    tokens: int
    lines: tuple[BudgetLine, ...] = ()

    @property
    def fraction(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0

    @property
    def several(self) -> bool:
        return self.tokens > 1

    def shows(self) -> tuple[object, ...]:
        """What `describe` draws, as a value to compare: the reset times as shown (whole
        seconds, minutes, hours), not the float that changes on every poll, so the panel is
        redrawn only when its text would change."""
        lines = tuple(
            (line.name, line.remaining, line.limit, format_duration(line.resets_in))
            for line in self.lines
        )
        m = self.metrics
        figures = (m["percentageUsed"], m["averageCostPerQuery"], m["estimatedQueriesRemaining"])
        return (self.tokens, self.remaining, self.limit, format_duration(self.resets_in)) + (
            figures if not self.several else lines
        )

    def describe(self) -> RenderableType:
        if self.several:
            return self._describe_several()
        m = self.metrics
        text = Text()
        text.append(f"{self.remaining:,}", style=f"bold {_budget_style(self.fraction)}")
        text.append(f" / {self.limit:,} points · ")
        text.append(f"reset in {format_duration(self.resets_in)}\n", style="bold")
        text.append(f"percentageUsed {m['percentageUsed']}%\n")
        text.append(f"averageCostPerQuery {m['averageCostPerQuery']}\n")
        text.append(f"estimatedQueriesRemaining {m['estimatedQueriesRemaining']:,}")
        return text

    def _describe_several(self) -> RenderableType:
        head = Text()
        head.append(f"{self.remaining:,}", style=f"bold {_budget_style(self.fraction)}")
        head.append(f"/{self.limit:,} points · {self.tokens} budgets")
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("who", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("left", justify="right", no_wrap=True)
        table.add_column("reset", justify="right", no_wrap=True)
        shown = self.lines[:BUDGET_LINES] if len(self.lines) > BUDGET_LINES + 1 else self.lines
        for line in shown:
            table.add_row(
                Text(short_budget_name(line.name)),  # from the database: never markup
                Text(f"{line.remaining:,}/{line.limit:,}", style=_budget_style(line.fraction)),
                Text(f"↻{format_duration(line.resets_in)}", style="dim"),
            )
        parts: list[RenderableType] = [head, table]
        if len(shown) < len(self.lines):
            more = len(self.lines) - len(shown)
            parts.append(Text(f"… {more} more (backfill-console stats)", style="dim"))
        return Group(*parts)


def budget_view(budgets: Sequence[dict[str, Any]], now: datetime) -> BudgetView | None:
    if not budgets:
        return None
    newest = max(budgets, key=lambda b: b["observedAt"])

    def resets_in(budget: dict[str, Any]) -> float:
        return (datetime.fromisoformat(budget["resetAt"]) - now).total_seconds()

    def left(budget: dict[str, Any]) -> int:
        # A reset that has come means a full budget, whatever was last reported before it.
        return int(budget["limit"] if resets_in(budget) <= 0 else budget["remaining"])

    lines = tuple(
        sorted(
            (
                BudgetLine(
                    name=str(b.get("name") or b["tokenFingerprint"]),
                    remaining=left(b),
                    limit=int(b["limit"]),
                    resets_in=max(0.0, resets_in(b)),
                )
                for b in budgets
            ),
            key=lambda line: (line.fraction, line.name),
        )
    )
    if len(budgets) == 1:
        return BudgetView(
            remaining=newest["remaining"],
            limit=newest["limit"],
            metrics=newest,
            resets_in=resets_in(newest),
            tokens=1,
            lines=lines,
        )
    return BudgetView(
        remaining=sum(line.remaining for line in lines),
        limit=sum(line.limit for line in lines),
        metrics=newest,
        resets_in=min(line.resets_in for line in lines),
        tokens=len(budgets),
        lines=lines,
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


def row_inputs(p: BackfillProgress, f: Freshness | None, s: Standing) -> tuple[object, ...]:
    """Everything `repository_cells(p, f)` is made of, for comparing, not the clock: the row
    and its freshness without `observed_at` (new every poll) and the raw lag (one second more
    every second), plus the lag as the cell shows it and the standing `s` (the clock's way
    into the status: a wait or cooldown over, a lease expired, a stall). Equal inputs make
    equal cells, so an idle console rebuilds no row (`build_view`'s `shown`)."""
    row = p.__dict__.copy()
    del row["observed_at"]
    fresh = None
    if f is not None:
        fresh = f.__dict__.copy()
        del fresh["observed_at"], fresh["lag_seconds"]
    return row, fresh, lag_cell(f), s


@dataclass(frozen=True)
class View:
    """One rendered snapshot: table rows keyed by a stable id, panel texts and new events.

    `inputs` holds what each repository row was built from (`row_inputs`): the next
    `build_view` reuses the very cell tuples of rows whose inputs did not change, and the
    table skips a row whose cells are the ones it shows."""

    observed_at: datetime
    repositories: dict[str, tuple[Text | str, ...]]
    workers: dict[str, tuple[Text | str, ...]]
    chunks: Text
    budget: BudgetView | None
    summary: str
    events: list[Text] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # repository row keys, sorted
    inputs: dict[str, tuple[object, ...]] = field(default_factory=dict, compare=False)


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


def freshness_by_id(report: StatsReport) -> dict[UUID, Freshness]:
    return {f.backfill_state_id: f for f in report.freshness}


def events_between(
    previous: StatsReport | None,
    current: StatsReport,
    now: datetime,
    standings: dict[UUID, Standing] | None = None,
) -> list[Text]:
    """What changed since the last snapshot: chunks done, failures, waits, workers, recoveries.
    `standings`: each current row's `standing`, when the caller has them already."""
    if previous is None:
        return []
    events: list[Text] = []
    done: list[Text] = []
    done_prs = 0
    before = {p.backfill_state_id: p for p in previous.progress}
    fresh, was_fresh = freshness_by_id(current), freshness_by_id(previous)
    for p in current.progress:
        old = before.get(p.backfill_state_id)
        if old is None:
            events.append(_event(now, f"{p.repository}: added ({p.total_prs or 0:,} PRs)"))
            continue
        if p.status == old.status == "completed":  # a completed repository moves by syncs
            chunk, more = _sync_events(
                p, old, fresh.get(p.backfill_state_id), was_fresh.get(p.backfill_state_id), now
            )
            done += chunk
            done_prs += max(0, p.processed_prs - old.processed_prs)
            events += more
        elif p.last_chunk_number > old.last_chunk_number and p.processed_prs > old.processed_prs:
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
        now_standing = standings[p.backfill_state_id] if standings else standing(p)
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


def _sync_events(
    p: BackfillProgress,
    old: BackfillProgress,
    f: Freshness | None,
    was: Freshness | None,
    now: datetime,
) -> tuple[list[Text], list[Text]]:
    """A completed repository's sync (issue 17): its sync chunks done (numbered by the
    backfill's own counter; counted with the backfill's chunks when many move at once), and
    the sync started, or finished with how fresh the data now is."""
    chunks: list[Text] = []
    events: list[Text] = []
    started = f is not None and f.syncing and not (was is not None and was.syncing)
    if started and p.last_chunk_number == old.last_chunk_number:
        events.append(_event(now, f"{p.repository}: sync started", "cyan"))
    if p.last_chunk_number > old.last_chunk_number:
        new = p.processed_prs - old.processed_prs
        numbers = (
            f"#{p.last_chunk_number}"
            if p.last_chunk_number == old.last_chunk_number + 1
            else f"#{old.last_chunk_number + 1}-#{p.last_chunk_number}"
        )
        extra = f", +{new:,} new PRs" if new > 0 else ""
        what = f"sync started, chunk {numbers}" if started else f"sync chunk {numbers}"
        chunks.append(_event(now, f"{p.repository}: {what} done{extra}"))
    if f is not None and was is not None and f.syncs > was.syncs:
        fresh = f" as of {clock(f.fresh_as_of)}" if f.fresh_as_of is not None else ""
        events.append(_event(now, f"{p.repository}: synced, fresh{fresh}", "green"))
    return chunks, events


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
    sort: str | None = None,
    shown: View | None = None,
) -> View:
    """The view of `report`; events are what changed since `previous`. `shown`: the view on
    screen, whose rows are reused (the same tuples) where their inputs are unchanged."""
    wanted = filter_text.strip().lower()
    observed = report.progress[0].observed_at if report.progress else now
    fresh = freshness_by_id(report)
    standings = {p.backfill_state_id: standing(p) for p in report.progress}
    old_rows = shown.repositories if shown is not None else {}
    old_inputs = shown.inputs if shown is not None else {}
    repositories: dict[str, tuple[Text | str, ...]] = {}
    inputs: dict[str, tuple[object, ...]] = {}
    for p in report.progress:
        if wanted not in p.repository.lower():
            continue
        key = str(p.backfill_state_id)
        f = fresh.get(p.backfill_state_id)
        made_of = row_inputs(p, f, standings[p.backfill_state_id])
        cells = old_rows.get(key)
        if cells is None or old_inputs.get(key) != made_of:
            cells = repository_cells(p, f)
        repositories[key] = cells
        inputs[key] = made_of
    return View(
        observed_at=observed,
        repositories=repositories,
        workers={w.id: worker_cells(w, observed) for w in report.workers[:50]},
        chunks=chunk_summary(report),
        budget=budget_view(report.budgets, now),
        summary=summary_line(report),
        events=events_between(previous, report, now, standings),
        order=sort_order(report.progress, sort),
        inputs=inputs,
    )


# The detail screen ---------------------------------------------------------------------------


def chunk_columns(detail: BackfillDetail) -> tuple[ColumnSpec, ...]:
    """The chunk table's columns; `Kind` only when the schema gives chunks a kind."""
    kind = any(c.kind is not None for c in detail.chunks) or "kind" in detail.state
    return tuple(
        spec
        for spec in (
            ColumnSpec("#", 0, least=4),
            ColumnSpec("Kind", 5, least=8),
            ColumnSpec("Status", 1, least=9),
            ColumnSpec("PRs", 2, least=3),
            ColumnSpec("Started", 3, least=8),
            ColumnSpec("Duration", 4, least=8),
            ColumnSpec("Worker", 6, least=8, most=24),
            ColumnSpec("Error", 7, least=10),
        )
        if spec.name != "Kind" or kind
    )


_CHUNK_STYLE = {"completed": "green", "failed": "bold red", "processing": "cyan"}


def chunk_cells(c: ChunkRecord, now: datetime, *, kind: bool) -> tuple[Text | str, ...]:
    ended = c.ended_at()
    duration = format_duration(((ended or now) - c.started_at).total_seconds())
    status = Text(
        c.status + (" (recovered)" if c.recovered else ""), _CHUNK_STYLE.get(c.status, "")
    )
    cells: list[Text | str] = [f"#{c.chunk_number}"]
    if kind:
        cells.append(c.kind or "—")
    cells += [
        status,
        "—" if c.pr_count is None else f"{c.pr_count:,}",
        clock(c.started_at),
        duration if ended else f"{duration}…",
        Text(c.worker_id or "—"),
        Text(" ".join((c.error or "").split()), style="red"),
    ]
    return tuple(cells)


def chunk_rows(detail: BackfillDetail) -> dict[str, tuple[Text | str, ...]]:
    kind = any(spec.name == "Kind" for spec in chunk_columns(detail))
    return {
        str(c.chunk_number): chunk_cells(c, detail.observed_at, kind=kind) for c in detail.chunks
    }


def chunk_error(detail: BackfillDetail, chunk_number: int | None) -> Text:
    """The full error of a chunk (the highlighted one, else the newest failed one)."""
    chunks = {c.chunk_number: c for c in detail.chunks}
    chunk = chunks.get(chunk_number) if chunk_number is not None else None
    if chunk is None or chunk.error is None:
        chunk = next((c for c in detail.chunks if c.error), chunk)
    if chunk is None or chunk.error is None:
        return Text("No chunk error.", style="dim")
    text = Text(f"Chunk #{chunk.chunk_number} error:\n", style="bold")
    text.append(chunk.error, style="red")
    return text


def _line(text: Text, label: str, value: Text | str) -> None:
    text.append(f"{label:<9}", style="bold")
    text.append(value)
    text.append("\n")


def sync_summary(f: Freshness) -> Text:
    """A completed repository's freshness: as of when, the lag, how many syncs, and whether
    one is under way or asked for."""
    assert f.fresh_as_of is not None
    text = Text(f"fresh as of {f.fresh_as_of.astimezone():%Y-%m-%d %H:%M:%S}")
    text.append(f" · lag {format_duration(f.lag_seconds)}", style="bold")
    if f.syncing:
        text.append(" · syncing now", style="bold cyan")
    elif sync_requested(f):
        text.append(" · sync requested", style="cyan")
    if f.syncs and f.synced_at is not None:
        text.append(f" · {f.syncs:,} sync{'s' if f.syncs != 1 else ''}, last {clock(f.synced_at)}")
    elif not f.syncs:
        text.append(" · never synced (as of its backfill's start)")
    if f.watermark is not None:
        text.append(f" · watermark {f.watermark.astimezone():%Y-%m-%d %H:%M:%S}", style="dim")
    return text


def detail_summary(
    detail: BackfillDetail, p: BackfillProgress | None, f: Freshness | None = None
) -> Text:
    """The backfill's state, in full: status with its reason and since when, progress, rate,
    ETA, cursor, page size, errors and cooldown, lease, and its freshness (lag) once
    completed."""
    now = detail.observed_at
    text = Text()
    if p is not None:
        s = standing(p)
        status = repository_status(p)  # a sync under way is on the Sync line
        if s.why and s.state not in ("failed", "stalled", "completed"):
            status.append(f" ({s.why})")
        if s.since is not None:
            status.append(f" · since {s.since.astimezone():%Y-%m-%d %H:%M}", style="dim")
        _line(text, "State", status)
        total = "?" if p.total_prs is None else f"{p.total_prs:,}"
        percent = "" if p.percent is None else f" ({p.percent:.1f}%)"
        rate = f"{p.prs_per_minute:,.0f} PRs/min" if p.prs_per_minute else "— PRs/min"
        eta = "" if p.status == "completed" else f" · ETA {format_duration(p.eta_seconds)}"
        refused = (
            f" · {p.refused_prs:,} refused (see pull_request_failures)" if p.refused_prs else ""
        )
        _line(
            text,
            "Progress",
            f"{p.processed_prs:,}/{total} PRs{percent} · {rate}{eta}{refused}",
        )
    else:
        _line(text, "State", Text(detail.status))
    if detail.after_pr is not None:
        cursor = f"after PR #{detail.after_pr}"
    else:
        cursor = "past a page" if detail.has_cursor else "at the start (oldest PR first)"
    page = "default" if detail.page_size is None else str(detail.page_size)
    _line(text, "Cursor", f"{cursor} · page size {page}")
    errors = Text(f"{detail.error_count} error{'s' if detail.error_count != 1 else ''}")
    if detail.cooldown_until is not None and detail.cooldown_until > now:
        errors.append(f" · cooling down until {clock(detail.cooldown_until)}", style="yellow")
    if detail.last_error:
        errors.append(" · last: ")
        errors.append(detail.last_error, style="red")
    _line(text, "Errors", errors)
    if detail.leased_by and detail.lease_expires_at is not None:
        host = f" on {detail.lease_host}" if detail.lease_host else ""
        left = (detail.lease_expires_at - now).total_seconds()
        expiry = f"expires in {format_duration(left)}" if left > 0 else "expired"
        _line(text, "Lease", f"{detail.leased_by}{host} · {expiry}")
    else:
        _line(text, "Lease", Text("none (no worker holds it)", style="dim"))
    if f is not None and f.fresh_as_of is not None:
        _line(text, "Sync", sync_summary(f))
    text.rstrip()
    return text
