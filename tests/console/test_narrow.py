"""Tables that are folded, zero-width or emptied keep taking rows (the red team's crash).

Below 110 columns the workers panel folds (`display: none`), so its table is zero cells wide
and lays out no columns at all, yet every poll still gives it rows. A row whose text was wider
than any before forced a relayout, which read the cursor's cell (row 0, column 0) of a table
with rows and no columns: Textual raised `CellDoesNotExist` and the demo died within seconds.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from textual.app import App, ComposeResult

from console.app import BackfillConsole
from console.detail import DetailScreen
from console.widgets import KeyedTable
from core.monitoring import StatsReport
from tests.support.console_fixed import NOW, FixedBackend, report

SIZES = [(40, 12), (80, 24), (100, 30), (109, 30), (120, 40)]


def empty() -> StatsReport:
    """A poll before anything is registered, or after everything was removed."""
    return StatsReport(chunks=report().chunks, progress=[], workers=[], budgets=[], stuck=[])


def wider() -> StatsReport:
    """The fixed report with cells wider than any before (a relayout) and one worker more."""
    full = report()
    worker = full.workers[0]
    longer = worker.model_copy(update={"detail": "claimed octo/linux chunk #1117 " + "x" * 90})
    newcomer = worker.model_copy(
        update={"id": "worker-" + "z" * 60, "heartbeat_at": NOW - timedelta(seconds=1)}
    )
    return StatsReport(
        chunks=full.chunks,
        progress=full.progress[:3],
        workers=[longer, *full.workers[1:], newcomer],
        budgets=full.budgets,
        stuck=full.stuck,
        freshness=full.freshness,
    )


class ChangingBackend(FixedBackend):
    """The fixed backend, but each poll answers with the next report (the last one repeats).

    By default the polls go as the demo's do: nothing yet, rows, a wider cell, rows gone,
    rows back."""

    def __init__(self, script: list[StatsReport] | None = None) -> None:
        super().__init__()
        self.script = script or [empty(), report(), wider(), empty(), report()]

    async def snapshot(self) -> StatsReport:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def console(script: list[StatsReport] | None = None) -> BackfillConsole:
    app = BackfillConsole(ChangingBackend(script), autopoll=False, now=lambda: NOW)
    app.animation_level = "none"
    return app


async def poll(app: BackfillConsole, pilot: Any) -> None:
    app.poll()
    await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
    await pilot.pause()


def tables(app: App[Any]) -> dict[str, KeyedTable]:
    return {t.id or "": t for t in app.screen.query(KeyedTable)}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_poll_survives_at_any_width(size: tuple[int, int]) -> None:
    app = console()
    async with app.run_test(size=size) as pilot:
        for _ in range(5):
            await poll(app, pilot)
        shown = tables(app)
        # The last poll's rows are all there, folded or not, with their full text.
        assert len(shown["workers"]._shown) == 3
        assert "worker-a" in shown["workers"].row_text("worker-a")[0]
        assert shown["repositories"].row_count == 8
        assert app.query_one("#workers").display == (size[0] >= 110)


async def test_resizing_while_rows_change_keeps_the_cursor_row() -> None:
    app = console([report(), wider(), report(), wider(), report(), wider()])
    async with app.run_test(size=(160, 50)) as pilot:
        await poll(app, pilot)
        workers = tables(app)["workers"]
        workers.select("worker-b")
        for width, height in [(100, 30), (80, 24), (160, 50), (109, 30), (120, 40)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            await poll(app, pilot)
        assert workers.columns and workers.row_count == 4  # the last poll was `wider()`
        assert workers.selected_key == "worker-b"
        assert app.query_one("#workers").display


class Bare(App[None]):
    """One table, folded from the start (as #workers below 110 columns): no columns at all."""

    CSS = "#table { display: none; }"

    def compose(self) -> ComposeResult:
        yield KeyedTable(["id", "status", "detail"], id="table")


async def test_a_folded_table_takes_rows_widens_sorts_and_empties() -> None:
    app = Bare()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(KeyedTable)
        assert not table.columns
        table.apply({"a": ("a", "ok", "short")})
        table.apply({"a": ("a", "ok", "much longer than before"), "b": ("b", "x", "y")})
        table.order(["b", "a"])
        table.select("a")
        assert table.selected_key == "a"
        table.apply({})
        assert table.selected_key is None
        table.apply({"c": ("c", "back", "again " * 20)})
        table.display = True
        await pilot.pause()
        assert list(table.widths) == ["id", "status", "detail"]
        assert table.selected_key == "c"
        assert table.get_row("c")[0].plain == "c"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_detail_chunks_table_opens_at_any_width(size: tuple[int, int]) -> None:
    app = console()
    async with app.run_test(size=size) as pilot:
        await poll(app, pilot)
        await poll(app, pilot)
        await pilot.press("enter")
        for _ in range(20):
            if isinstance(app.screen, DetailScreen) and app.screen.query("#detail-chunks"):
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        await pilot.resize_terminal(*size)
        await pilot.pause()
        assert screen.chunks_text()
