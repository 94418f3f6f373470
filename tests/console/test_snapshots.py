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

from console.app import BackfillConsole
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


def console(*, fail: bool = False, readonly: bool = False) -> BackfillConsole:
    app = BackfillConsole(
        FixedBackend(fail=fail),
        readonly=readonly,
        autopoll=False,
        now=lambda: NOW,
    )
    app.animation_level = "none"
    return app


async def polled(pilot: Any) -> None:
    app: BackfillConsole = pilot.app
    app.log_event("octo/linux: chunk #1116 done, +37 PRs")
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
    """The main screen polled, the cursor on the failed repository (acme/legacy, row 5)."""
    await polled(pilot)
    await pilot.press("down", "down", "down", "down")


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
    """The main screen polled, then octo/react (row 2: completed, a sync under way)."""
    await polled(pilot)
    await pilot.press("down")
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
