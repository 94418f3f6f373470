"""Pictures of the console (pytest-textual-snapshot), from fixed data with time frozen.

Accept intended changes with `pytest tests/console/test_snapshots.py --snapshot-update`
and review the SVGs in tests/console/__snapshots__/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from textual.widgets import Input

from console.app import BackfillConsole
from console.screens import EventLogScreen
from console.widgets import KeyedTable
from tests.support.console_fixed import NOW, FixedBackend, installation_budgets

SIZES = {"small": (80, 24), "large": (120, 40)}


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    with time_machine.travel(NOW, tick=False):
        yield
    monkeypatch.delenv("TZ")
    time.tzset()


def console(*, fail: bool = False, readonly: bool = False, mixed: int = 0) -> BackfillConsole:
    app = BackfillConsole(
        FixedBackend(fail=fail, repositories=mixed, mixed=mixed > 0),
        readonly=readonly,
        autopoll=False,
        now=lambda: NOW,
    )
    app.animation_level = "none"
    return app


async def polled(pilot: Any) -> None:
    app: BackfillConsole = pilot.app
    app.log_event("octo/linux: 37 PRs stored since the last look (41,230 of 96,400)")
    app.log_event("acme/api: waiting for the GraphQL budget until 14:42:00", "yellow")
    app.poll()
    await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare, size: str) -> None:
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=polled)


@pytest.mark.parametrize("size", SIZES)
def test_recovery_plan(snap_compare, size: str) -> None:
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=polled, press=["d"])


@pytest.mark.parametrize("size", SIZES)
def test_live_confirmation(snap_compare, size: str) -> None:
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=polled, press=["r"])


@pytest.mark.parametrize("size", SIZES)
def test_add_repository_modal(snap_compare, size: str) -> None:
    keys = ["a", *"octo/linux bad name!"]
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=polled, press=keys)


@pytest.mark.parametrize("size", SIZES)
def test_database_error(snap_compare, size: str) -> None:
    assert snap_compare(console(fail=True), terminal_size=SIZES[size], run_before=polled)


def test_readonly_footer(snap_compare) -> None:
    assert snap_compare(console(readonly=True), terminal_size=SIZES["large"], run_before=polled)


async def on_legacy(pilot: Any) -> None:
    """The main screen polled, the cursor on the failed repository (acme/legacy: first, as
    attention first puts it)."""
    await polled(pilot)


async def opened(pilot: Any) -> None:
    """Enter on the selected row, once the detail screen has read its repository."""
    await pilot.press("enter")
    app: BackfillConsole = pilot.app
    await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
    await pilot.pause()
    await pilot.pause()


async def in_detail(pilot: Any) -> None:
    await on_legacy(pilot)
    await opened(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare, size: str) -> None:
    """acme/legacy: failed, its chunks, the failed chunk's error in full."""
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=in_detail)


async def in_syncing_detail(pilot: Any) -> None:
    """The main screen polled, then octo/react (row 5 in attention order: failed, stuck,
    waiting, active, then it: completed, a sync under way)."""
    await polled(pilot)
    await pilot.press("down", "down", "down", "down")
    await opened(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen_syncing(snap_compare, size: str) -> None:
    """octo/react: fresh as of when, its lag, the sync's lease and its sync chunks."""
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=in_syncing_detail)


@pytest.mark.parametrize("size", SIZES)
async def test_no_table_scrolls_sideways(size: str) -> None:
    """The snapshots' tables fit; none has a horizontal scrollbar, on the main
    screen (a failed, a stalled and a syncing repository among its rows) and in details."""
    from textual.widgets import DataTable

    def sideways(app: BackfillConsole) -> list[str]:
        return [
            str(table.id)
            for table in app.screen.query(DataTable)
            if table.show_horizontal_scrollbar or table.max_scroll_x > 0
        ]

    for run_before in (polled, in_detail, in_syncing_detail):
        app = console()
        async with app.run_test(size=SIZES[size]) as pilot:
            await run_before(pilot)
            assert sideways(app) == [], run_before.__name__
            table = app.query_one("#repositories", KeyedTable)
            status = {table.row_text(k.value)[0]: table.row_text(k.value)[-2] for k in table.rows}
            assert status["acme/legacy"].startswith("failed: ")
            assert status["acme/mono"].startswith("stalled since ")
            assert status["octo/react"] == "syncing"
            assert "Lag" in table.widths and "Status" in table.widths


@pytest.mark.parametrize("size", SIZES)
def test_remove_confirmation(snap_compare, size: str) -> None:
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=on_legacy, press=["x"])


@pytest.mark.parametrize("size", SIZES)
def test_budgets_of_several_installations(snap_compare, size: str) -> None:
    """Every token/installation by name with remaining/limit and reset, lowest first; those
    beyond four are counted. Fits 80x24 and 120x40."""
    app = console()
    backend = app.backend
    assert isinstance(backend, FixedBackend)
    backend.fixed = dataclasses.replace(backend.fixed, budgets=installation_budgets())
    assert snap_compare(app, terminal_size=SIZES[size], run_before=polled)


def thousand() -> BackfillConsole:
    """1,000 repositories in every state (`mixed_report`): counts, attention order, ETA."""
    return console(mixed=1_000)


@pytest.mark.parametrize("size", SIZES)
def test_thousand_repositories(snap_compare, size: str) -> None:
    """Counts by state under the totals, the set's ETA, failed then stuck rows first, a
    budget wait's time kept at 80 columns."""
    assert snap_compare(thousand(), terminal_size=SIZES[size], run_before=polled)


async def waiting_only(pilot: Any) -> None:
    """Polled, then `v` three times: failed, stuck, waiting (no rate, no ETA: waits)."""
    await polled(pilot)
    await pilot.press("v", "v", "v")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_thousand_filtered_to_waiting(snap_compare, size: str) -> None:
    assert snap_compare(thousand(), terminal_size=SIZES[size], run_before=waiting_only)


async def in_event_log(pilot: Any) -> None:
    """Polled, the demo's lines logged, then `e`: the session's whole log."""
    app: BackfillConsole = pilot.app
    app.log_event("demo: started 3 worker processes; vm-demo-3 works on demo/web alone")
    for n in range(1, 40):
        app.log_event(f"demo/api: 50 PRs stored since the last look ({n * 50:,} of 2,500)")
    app.log_event("demo: SIGKILLed vm-demo-3 in the middle of demo/web chunk #4", "bold red")
    await polled(pilot)
    await pilot.press("e")
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_event_log(snap_compare, size: str) -> None:
    assert snap_compare(thousand(), terminal_size=SIZES[size], run_before=in_event_log)


async def searched_log(pilot: Any) -> None:
    await in_event_log(pilot)
    await pilot.press("slash", *"demo:")
    # The cursor shown steadily, whatever the moment of its blink the picture is taken at.
    pilot.app.screen.query_one("#search", Input).cursor_blink = False
    # The log is redrawn once typing settles (EventLogScreen.SEARCH_SETTLES).
    await pilot.pause(EventLogScreen.SEARCH_SETTLES * 3)
    await pilot.pause()


def test_event_log_search(snap_compare) -> None:
    assert snap_compare(thousand(), terminal_size=SIZES["small"], run_before=searched_log)


async def test_thousand_counts_order_and_filter() -> None:
    """The numbers behind the pictures: counts by state, attention order, the filter."""
    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await polled(pilot)
        summary = str(app.query_one("#summary").render())
        # Short words: the whole ones would pass 80 columns; every state still there.
        assert "20 failed 25 stuck 100 wait 200 active 40 sync 50 pend 50 paused 515 done" in (
            summary
        )
        table = app.query_one("#repositories", KeyedTable)
        status = [table.row_text(row.key.value)[-2] for row in table.ordered_rows]
        assert len(status) == 1_000
        assert all(s.startswith("failed") for s in status[:20])
        assert all(s.startswith("stalled") for s in status[20:45])
        assert all(s == "budget → 14:42" for s in status[45:145])
        assert status[-1] == "completed"
        # Still storing with an old stuck chunk: active (its rate counted), the chunk named.
        assert status.count("active, 1 stuck chunk") == 10
        assert all(s.startswith("active") for s in status[145:345])
        await pilot.press("v", "v")
        await pilot.pause()
        assert table.row_count == 25 and app.state_filter == "stuck"
        assert "only stuck" in app.sub_title
        for _ in range(7):
            await pilot.press("v")
        await pilot.pause()
        assert app.state_filter is None and table.row_count == 1_000


async def test_the_event_log_keeps_a_reader_scrolled_back_while_events_come() -> None:
    """Scrolled back in the log, a new event does not pull the view to the bottom; at the
    bottom, the view follows new events (the red team: every event jumped to the end)."""
    from textual.widgets import RichLog

    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await in_event_log(pilot)
        log = app.screen.query_one("#log", RichLog)
        await pilot.press("home", "down", "down")
        await pilot.pause()
        kept = log.scroll_y
        assert kept < log.max_scroll_y
        app.log_event("demo/api: 50 PRs stored while scrolled back")
        await pilot.pause()
        assert log.scroll_y == kept
        await pilot.press("end")
        await pilot.pause()
        app.log_event("demo/api: 50 PRs stored at the bottom")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y


@pytest.mark.parametrize(("presses", "by"), [(3, "rate"), (4, "ETA")])
async def test_sorting_by_rate_or_eta_puts_rows_that_show_one_first(presses: int, by: str) -> None:
    """Completed rows show no rate and no ETA: sorted by either, they come after every row
    where work goes on (the red team: 515 completed rows with ETA 0 sorted first)."""
    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await polled(pilot)
        await pilot.press(*["o"] * presses)
        await pilot.pause()
        assert app.sort_by == by
        table = app.query_one("#repositories", KeyedTable)
        rows = [table.row_text(row.key.value) for row in table.ordered_rows]
        column = 3 if by == "rate" else 4  # the PRs/min cell, the ETA cell
        shows = [row[column] not in ("", "—") for row in rows]
        showing = shows.count(True)
        assert showing > 0 and shows == [True] * showing + [False] * (len(rows) - showing)
        assert not any(row[-2].startswith("completed") for row in rows[:showing])


async def test_the_event_log_wraps_lines_within_what_it_shows_at_80_columns() -> None:
    """Every wrapped line fits the log's visible width (the red team: wrapped to 78 cells
    with 76 visible once the scrollbar came, each line losing its last characters)."""
    from textual.widgets import RichLog

    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await in_event_log(pilot)
        app.log_event("LONG " + "very long text " * 40)
        await pilot.pause()
        log = app.screen.query_one("#log", RichLog)
        widest = max(line.cell_length for line in log.lines)
        assert widest <= log.scrollable_content_region.width
        assert not log.show_horizontal_scrollbar


@pytest.mark.parametrize("key", ["enter", "x", "p", "t", "n"])
async def test_row_keys_do_nothing_while_the_event_log_has_the_focus(key: str) -> None:
    """Enter, x, p, t and n act on the selected row only with the table focused (the red
    team: with the event log focused, x asked to remove the row under the table's cursor)."""
    from console.detail import DetailScreen
    from console.screens import ConfirmRemove

    app = console()
    async with app.run_test(size=SIZES["large"]) as pilot:
        await polled(pilot)
        app.query_one("#events").focus()
        await pilot.pause()
        logged = list(app.event_lines)
        await pilot.press(key)
        await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
        await pilot.pause()
        assert len(app.screen_stack) == 1 and list(app.event_lines) == logged
        app.query_one("#repositories").focus()
        await pilot.press("x" if key != "enter" else key)  # the same keys act on the table
        for _ in range(20):  # the removal's dry run and its dialog, awaited by its worker
            await pilot.pause(0.05)
            if len(app.screen_stack) > 1:
                break
        assert isinstance(app.screen, ConfirmRemove if key != "enter" else DetailScreen)


async def test_the_80_column_footer_keeps_the_state_and_log_keys() -> None:
    from textual.widgets._footer import FooterKey

    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await polled(pilot)
        keys = [k for k in app.screen.query(FooterKey) if k.display]
        actions = [k.action for k in keys]
        assert {"state_filter", "event_log", "filter", "help", "quit", "add"} <= set(actions)
        assert max(k.region.right for k in keys) <= SIZES["small"][0]


async def test_an_empty_filter_result_says_so_above_the_table() -> None:
    app = thousand()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await polled(pilot)
        await pilot.press("slash", *"no-such-name")
        await pilot.pause()
        table = app.query_one("#repositories", KeyedTable)
        assert table.row_count == 0
        assert table.border_title == (
            "Repositories: none of 1,000 match name “no-such-name” (/: filter)"
        )
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == 1_000 and table.border_title == "Repositories"


async def test_ctrl_c_quits_with_status_130_as_the_help_says() -> None:
    """`--help` (the console's and the demo's) lists 130 for Ctrl-C; Textual's own Ctrl-C
    only told the user to press ctrl+q."""
    from console.exit_codes import INTERRUPTED, exit_status_help

    assert f"{INTERRUPTED}  interrupted (Ctrl-C)" in exit_status_help("demo")
    app = console()
    async with app.run_test(size=SIZES["small"]) as pilot:
        await polled(pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == INTERRUPTED == 130


def test_the_demos_help_counts_the_workers_that_start(capsys: pytest.CaptureFixture[str]) -> None:
    """One worker to kill, then --workers more: the help says so (it said 2; 3 started)."""
    from console.cli import main
    from console.demo import DemoConfig

    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 2, so 3 start in all;" in text
    assert DemoConfig(data_dir=None).workers == 2  # type: ignore[arg-type]
