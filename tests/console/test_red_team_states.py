"""Issue 30's red team, from snapshots alone (no screen): what an event, a row's state, the
set's pace, the counts line and the table's title say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.panels.events import events_between
from console.panels.repositories import REPOSITORY_COLUMNS
from console.panels.states import COUNTS_WIDTH, STATES, counts_line
from console.view import build_view
from core.monitoring import StatsReport
from core.store.models import BackfillProgress, StuckChunk
from tests.support.console_fixed import NOW, progress, report

COLUMN = {c.name: n for n, c in enumerate(REPOSITORY_COLUMNS)}


pytestmark = pytest.mark.usefixtures("utc")  # times shown as UTC (tests/console/conftest.py)


def with_rows(rows: list[BackfillProgress], stuck: list[StuckChunk] | None = None) -> StatsReport:
    base = report()
    return StatsReport(base.chunks, rows, base.workers, base.budgets, stuck or [])


def stuck_chunk(p: BackfillProgress, number: int) -> StuckChunk:
    return StuckChunk(
        chunk_id=p.backfill_state_id,
        backfill_state_id=p.backfill_state_id,
        repository=p.repository,
        chunk_number=number,
        worker_id="worker-killed",
        started_at=NOW - timedelta(minutes=47),
        age_seconds=47 * 60,
        stored=10,
        expected=100,
        decision="reset",
        reason="partial: 10/100 stored",
    )


def cells_of(view_rows: dict, name: str) -> tuple:
    return next(cells for cells in view_rows.values() if cells[0] == name)


def test_an_event_names_the_prs_stored_never_a_chunk_that_only_started() -> None:
    """last_chunk_number is the last chunk *started*: a chunk started (or killed) since
    the last look is no chunk done. The event says what was stored, without a number."""
    before = progress("a/b", processed=100, total=1_000, chunk=5, leased=True)
    started = progress("a/b", processed=100, total=1_000, chunk=7, leased=True)
    assert events_between(with_rows([before]), with_rows([started]), NOW) == []
    stored = progress("a/b", processed=129, total=1_000, chunk=7, leased=True)
    events = [e.plain[9:] for e in events_between(with_rows([started]), with_rows([stored]), NOW)]
    assert events == ["a/b: 29 PRs stored since the last look (129 of 1,000)"]
    assert "#" not in events[0] and "PRs 1" not in events[0]


def test_a_backfill_still_storing_is_active_with_its_stuck_chunk_named() -> None:
    """The precedence (`repository_state`): storing beats an old stuck chunk. It keeps its
    rate and ETA (in the row and the set's), and its row names the stuck chunk; a backfill
    not storing with a stuck chunk is stuck, without a rate."""
    storing = progress("a/storing", processed=100, total=1_000, rate=60.0, leased=True)
    idle = progress("a/idle", processed=100, total=1_000, rate=60.0)
    stalled = progress("a/stalled", processed=100, total=1_000, leased=True, stalled_minutes=25)
    snapshot = with_rows(
        [storing, idle, stalled],
        [stuck_chunk(storing, 3), stuck_chunk(idle, 4)],
    )
    view = build_view(snapshot, None, NOW)
    row = cells_of(view.repositories, "a/storing")
    assert str(row[COLUMN["Status"]]) == "active, 1 stuck chunk"
    assert row[COLUMN["PRs/min"]] == "60" and row[COLUMN["ETA"]] == "15m"
    assert cells_of(view.repositories, "a/idle")[COLUMN["PRs/min"]] == "—"
    summary = view.summary.plain
    assert "1 stuck" not in summary and "2 stuck 1 active" in summary
    assert "60 PRs/min" in summary and "ETA 45m" in summary  # 2,700 PRs left at 60/min


def test_no_rate_and_no_eta_while_every_backfill_waits_for_the_budget() -> None:
    rows = [
        progress(f"a/r{n}", processed=10, total=100, rate=40.0, waiting=True, leased=True)
        for n in range(3)
    ]
    view = build_view(with_rows(rows), None, NOW)
    for cells in view.repositories.values():
        assert cells[COLUMN["PRs/min"]] == "—" and cells[COLUMN["ETA"]] == ""
        assert str(cells[COLUMN["Status"]]) == "budget → 14:42"
    summary = view.summary.plain
    assert "PRs/min" not in summary and "ETA" not in summary
    assert "3 waiting" in summary


def test_paused_backfills_are_counted_paused_not_pending() -> None:
    rows = [
        progress("a/paused", processed=10, total=100, status="paused"),
        progress("a/queued", processed=0, total=100, status="pending"),
    ]
    view = build_view(with_rows(rows), None, NOW)
    assert view.summary.plain.endswith("1 pending 1 paused")
    only = build_view(with_rows(rows), None, NOW, state="paused")
    assert [cells[0] for cells in only.repositories.values()] == ["a/paused"]


def test_the_counts_line_fits_80_columns_with_every_state_it_has() -> None:
    """~100 repositories in each state passed 80 columns and lost "completed"."""
    many = {state: 100 + n for n, state in enumerate(STATES)}
    line = counts_line(many).plain
    assert len(line) <= COUNTS_WIDTH
    assert all(f"{100 + n} " in line for n in range(len(STATES)))
    assert line.endswith(" done")
    few = counts_line({"failed": 3, "completed": 900}).plain
    assert few == "3 failed 900 completed"  # the whole words while they fit
    assert counts_line({"failed": 0, "completed": 5}, chosen="failed").plain == (
        "0 failed 5 completed"
    )


def test_a_filter_that_leaves_no_row_says_so() -> None:
    rows = [progress("a/b", processed=1, total=10)]
    assert build_view(with_rows(rows), None, NOW).title == "Repositories"
    none = build_view(with_rows(rows), None, NOW, filter_text="zzz", state="failed")
    assert none.repositories == {}
    assert (
        none.title
        == "Repositories: none of 1 match failed, name “zzz” (v: next state or /: filter)"
    )
    some = build_view(with_rows(rows), None, NOW, filter_text="a/")
    assert some.title == "Repositories: 1 of 1, name “a/”"
