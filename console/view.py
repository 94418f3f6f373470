"""What the main screen shows, gathered from one `StatsReport`: each panel's part, no widgets.

Every panel (`console.panels`) is a pure function of the snapshot (and the previous one, for
events), so the UI thread only copies cells into widgets and the tests can check the numbers
without a screen. Times come from the database (`observed_at`, `waiting_until`, ages), never
from the clock of the machine the console runs on, except the budget's countdown, which is
relative to `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from rich.text import Text

from console.columns import width_of
from console.panels.budget import BudgetView, budget_view
from console.panels.chunks import chunk_summary
from console.panels.events import events_between
from console.panels.repositories import (
    freshness_by_id,
    repository_cells,
    row_inputs,
    row_key,
    sort_order,
    table_title,
)
from console.panels.states import repository_state, stuck_counts
from console.panels.summary import summary_line
from console.panels.workers import worker_cells
from core.monitoring import Standing, StatsReport, standing
from core.store.models import BackfillProgress, Freshness


@dataclass(frozen=True)
class View:
    """One rendered snapshot: table rows keyed by a stable id, panel texts and new events.

    `inputs` holds what each repository row was built from (`row_inputs`): the next
    `build_view` reuses the very cell tuples of rows whose inputs did not change, and the
    table skips a row whose cells are the ones it shows. `widths`: each row's cells'
    `width_of`, and `widest` each column's widest cell, measured here, off the UI thread, so
    the table lays its columns out without measuring a thousand rows (at least as wide as
    every row's: a view built on a shown one keeps the shown widths, as the table does)."""

    observed_at: datetime
    repositories: dict[str, tuple[Text | str, ...]]
    workers: dict[str, tuple[Text | str, ...]]
    chunks: Text
    budget: BudgetView | None
    summary: Text
    events: list[Text] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # repository row keys, sorted
    inputs: dict[str, tuple[object, ...]] = field(default_factory=dict, compare=False)
    widths: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)
    widest: tuple[int, ...] = field(default=(), compare=False)
    source: StatsReport | None = field(default=None, compare=False, repr=False)  # built from
    title: str = "Repositories"  # the table's, with what the filters leave (`table_title`)


def build_view(
    report: StatsReport,
    previous: StatsReport | None,
    now: datetime,
    *,
    filter_text: str = "",
    sort: str | None = None,
    shown: View | None = None,
    state: str | None = None,
) -> View:
    """The view of `report`; events are what changed since `previous`. `shown`: the view on
    screen, whose rows are reused (the same tuples) where their inputs are unchanged; when
    it was built from `previous` (`View.source`), a row whose inputs are unchanged is also
    known to have no event, and is not compared with `previous` again. `filter_text`:
    rows whose name contains it; `state`: rows in that `repository_state` only; `sort`: a
    `SORTS` name, None for attention first."""
    wanted = filter_text.strip().lower()
    observed = report.progress[0].observed_at if report.progress else now
    fresh = freshness_by_id(report)
    stuck = stuck_counts(report)
    standings: dict[UUID, Standing] = {}
    states: dict[UUID, str] = {}
    rows: list[tuple[BackfillProgress, Freshness | None, Standing, str, int]] = []
    for p in report.progress:
        backfill = p.backfill_state_id
        f = fresh.get(backfill) if fresh else None
        its = standings[backfill] = standing(p)
        its_stuck = stuck[backfill] if stuck else 0
        its_state = states[backfill] = repository_state(its, f, its_stuck > 0)
        rows.append((p, f, its, its_state, its_stuck))
    old_rows = shown.repositories if shown is not None else {}
    old_inputs = shown.inputs if shown is not None else {}
    old_widths = shown.widths if shown is not None else {}
    same_source = shown is not None and previous is not None and shown.source is previous
    repositories: dict[str, tuple[Text | str, ...]] = {}
    inputs: dict[str, tuple[object, ...]] = {}
    widths: dict[str, tuple[int, ...]] = {}
    to_compare: list[BackfillProgress] = []  # rows an event may come of
    widest = list(shown.widest) if shown is not None else []
    for p, f, its, its_state, its_stuck in rows:
        if (wanted and wanted not in p.repository.lower()) or (
            state is not None and its_state != state
        ):
            to_compare.append(p)
            continue
        key = row_key(p.backfill_state_id)
        made_of = row_inputs(p, f, its, its_state, its_stuck)
        cells = old_rows.get(key)
        measured = old_widths.get(key)
        if cells is None or measured is None or old_inputs.get(key) != made_of:
            cells = repository_cells(p, f, its_state, its_stuck)
            measured = tuple(map(width_of, cells))
            if widest:
                widest = [max(a, b) for a, b in zip(widest, measured, strict=True)]
            else:
                widest = list(measured)
            to_compare.append(p)
        elif not same_source:
            to_compare.append(p)
        repositories[key] = cells
        inputs[key] = made_of
        widths[key] = measured
    return View(
        observed_at=observed,
        repositories=repositories,
        workers={w.id: worker_cells(w, observed) for w in report.workers[:50]},
        chunks=chunk_summary(report),
        budget=budget_view(report.budgets, now),
        summary=summary_line(report, states, state),
        events=events_between(previous, report, now, standings, to_compare),
        order=sort_order(report.progress, sort, states),
        inputs=inputs,
        widths=widths,
        widest=tuple(widest),
        source=report,
        title=table_title(len(repositories), len(report.progress), filter_text, state),
    )
