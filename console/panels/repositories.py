"""The repositories table: one row a backfill, its progress, lag and standing, and its sorts.

The clock enters a row only through `standing` (its status) and the lag, which is what lets
`row_inputs` tell when a row's cells can be reused.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from uuid import UUID

from rich.text import Text

from console.columns import ColumnSpec
from console.format import clock, format_duration, wait_until
from console.panels.states import MOVING, STATES
from core.monitoring import Standing, StatsReport, standing
from core.store.models import BackfillProgress, Freshness

# Fixed-format columns (counts, the bar, a rate, the ETA, the lag, the chunks) are shown
# whole or not at all; the repository's name and the status are flexible and share what is
# left (`layout_columns`), the status keeping room for a wait and its date ("budget → 8
# Dec 07:40"). The lag (how old the data of a completed repository is) comes before the
# progress bar: at 80 columns the bar goes first, as the count says the same in figures.
REPOSITORY_COLUMNS = (
    ColumnSpec("Repository", 0, least=12, most=40, flexible=True, enough=24),
    ColumnSpec("Processed", 2),
    ColumnSpec("Progress", 5, most=19),
    ColumnSpec("PRs/min", 6),
    ColumnSpec("ETA", 3),
    ColumnSpec("Lag", 4),
    ColumnSpec("Status", 1, least=16, flexible=True, enough=20),
    ColumnSpec("Chunks", 7, most=24),
)
SORTS = ("attention", "name", "progress", "rate", "ETA", "status")
BAR_WIDTH = 12


@functools.lru_cache(maxsize=1 << 16)
def row_key(backfill_state_id: UUID) -> str:
    """A backfill's row key in the table: its id as text (remembered: `str` of a UUID costs
    more than the rest of an unchanged row at a thousand rows a poll)."""
    return str(backfill_state_id)


_SEVERITY = ("failed", "stalled", "cooling", "waiting", "idle", "queued", "paused", "active")


def sort_order(
    progress: Sequence[BackfillProgress],
    by: str | None,
    states: Mapping[UUID, str] | None = None,
) -> list[str]:
    """Backfill ids in the order `by` wants: attention (the default, None too: `STATES`'
    order from `states`, each backfill's `repository_state`, then name), name A-Z, progress
    and rate highest first, ETA soonest first (unknown last), status most urgent first
    (failed, stalled, ...)."""
    rows = list(progress)
    if by in (None, "attention"):
        rank = {state: n for n, state in enumerate(STATES)}
        known = states or {}
        rows.sort(
            key=lambda p: (
                rank.get(known.get(p.backfill_state_id, "pending"), len(STATES)),
                p.repository.lower(),
            )
        )
    elif by == "name":
        rows.sort(key=lambda p: p.repository.lower())
    elif by == "progress":
        rows.sort(key=lambda p: (-(p.percent or 0.0), p.repository.lower()))
    elif by in ("rate", "ETA"):
        # By what the row shows: a rate and an ETA count only where work goes on (as
        # `repository_cells` shows them); the rest follow, by name.
        def shown(p: BackfillProgress) -> bool:
            moving = work_goes_on(p, (states or {}).get(p.backfill_state_id))
            return moving and (by == "rate" or p.status != "completed")

        if by == "rate":
            rows.sort(key=lambda p: (not shown(p), -p.prs_per_minute, p.repository.lower()))
        else:
            rows.sort(
                key=lambda p: (
                    not shown(p) or p.eta_seconds is None,
                    p.eta_seconds or 0,
                    p.repository.lower(),
                )
            )
    elif by == "status":

        def urgency(p: BackfillProgress) -> int:
            state = standing(p).state
            return _SEVERITY.index(state) if state in _SEVERITY else len(_SEVERITY)

        rows.sort(key=lambda p: (urgency(p), p.repository.lower()))
    return [row_key(p.backfill_state_id) for p in rows]


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
    a completed repository says when a sync is under way or asked for (`f`)."""
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
        # Short, so the time it waits for survives 80 columns.
        return Text(f"budget → {wait_until(p.waiting_until, p.observed_at)}", style=style)
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


def work_goes_on(p: BackfillProgress, state: str | None) -> bool:
    """Whether a row shows a rate (and ranks by it): its `repository_state` is one where work
    goes on (`MOVING`, a sync's included), or, without one, it is not completed. An ETA also
    needs the backfill not completed."""
    return state in MOVING if state is not None else p.status != "completed"


def repository_cells(
    p: BackfillProgress, f: Freshness | None = None, state: str | None = None, stuck: int = 0
) -> tuple[Text | str, ...]:
    """One repository row. The clock enters only through `standing` (via the status) and the
    lag: `row_inputs` relies on it to reuse a row's cells while neither changed. `state`: its
    `repository_state`; a rate and an ETA only when it is one where work goes on (`MOVING`).
    `stuck`: its stuck chunks; an active row names them in its status ("active, 1 stuck
    chunk"), as `repository_state` counts it active, not stuck."""
    total = "?" if p.total_prs is None else f"{p.total_prs:,}"
    fraction = None if p.percent is None else p.percent / 100
    if p.total_prs is None and p.status == "completed":
        fraction = 1.0  # an empty repository is done, not unknown
    progress = bar(fraction)
    progress.append(f" {p.percent:5.1f}%" if p.percent is not None else "      ")
    moving = work_goes_on(p, state)
    rate = f"{p.prs_per_minute:,.0f}" if p.prs_per_minute and moving else "—"
    eta = format_duration(p.eta_seconds) if moving and p.status != "completed" else ""
    chunks = Text(f"#{p.last_chunk_number}")
    if p.chunks_processing:
        chunks.append(f" {p.chunks_processing} running", style="cyan")
    if p.chunks_failed:
        chunks.append(f" {p.chunks_failed} failed", style="red")
    refused = f" ({p.refused_prs:,} refused)" if p.refused_prs else ""
    status = repository_status(p, f)
    if stuck and state == "active":
        status.append(f", {stuck} stuck chunk{'s' if stuck != 1 else ''}", style="bold red")
    return (
        p.repository,
        f"{p.processed_prs:,}/{total}{refused}",
        progress,
        rate,
        eta,
        lag_cell(f),
        status,
        chunks,
    )


def row_inputs(
    p: BackfillProgress, f: Freshness | None, s: Standing, state: str | None = None, stuck: int = 0
) -> tuple[object, ...]:
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
    return row, fresh, lag_cell(f), s, state, stuck


def freshness_by_id(report: StatsReport) -> dict[UUID, Freshness]:
    return {f.backfill_state_id: f for f in report.freshness}


def table_title(shown: int, total: int, filter_text: str = "", state: str | None = None) -> str:
    """The repositories panel's title: how many rows the filters (`filter_text` in the
    name, `state`) leave of `total`, and, when they leave none, that it is the filters, not
    an empty table, with the keys that change them."""
    wanted = filter_text.strip()
    filters = ([state] if state else []) + ([f"name “{wanted}”"] if wanted else [])
    if not filters or total == 0:
        return "Repositories"
    if shown == 0:
        keys = " or ".join((["v: next state"] if state else []) + (["/: filter"] if wanted else []))
        return f"Repositories: none of {total:,} match {', '.join(filters)} ({keys})"
    return f"Repositories: {shown:,} of {total:,}, {', '.join(filters)}"
