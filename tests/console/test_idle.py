"""An idle console redraws nothing: a poll that reads what is shown touches no widget.

The idle console's CPU (bench/bench_console.py) is mostly what each poll does with
500 repositories; a poll whose rows did not change must cost a comparison, not a rebuilt and
re-laid-out table. Counted here by the widget calls that redraw, not by timing.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.app import BackfillConsole
from console.detail import DetailScreen
from console.view import build_view
from console.widgets import KeyedTable
from core.monitoring import StatsReport
from core.store.models import BackfillDetail
from tests.support.console_fixed import NOW, FixedBackend, later, report
from tests.support.console_pilot import settle

REDRAWS = ("add_row", "remove_row", "clear", "update_cell")


async def test_an_idle_poll_redraws_nothing_and_a_change_redraws_only_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counted by the calls that change what a table holds: rows added, removed, cleared,
    and the rows whose cells are written (`KeyedTable._write`, which writes a changed row
    only once it is on screen)."""
    calls: Counter[str] = Counter()
    written: list[str] = []

    def spy(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            if name == "_write":
                if not args[0]:
                    return original(self, *args, **kwargs)
                written.extend(args[0])
            calls[f"{self.id}.{name}"] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)

    base = report(repositories=50)
    app = BackfillConsole(FixedBackend(), autopoll=False, now=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_view(build_view(base, None, NOW))
        await pilot.pause()
        table = app.query_one("#repositories", KeyedTable)
        spy(Static, "update")
        spy(KeyedTable, "_write")
        for name in REDRAWS:
            spy(DataTable, name)

        idle = later(base, 2)
        app.apply_view(build_view(idle, base, NOW + timedelta(seconds=2), shown=app.view))
        await pilot.pause()
        # Only what the clock moves on screen: the live workers' "Seen" (3s -> 5s ago, 8s ->
        # 10s ago); not a repository row, not a panel, not the budget (reset still in 12m).
        assert calls == Counter({"workers._write": 1})
        assert sorted(written) == ["worker-a", "worker-b"]
        calls.clear()
        written.clear()

        by_id = {str(p.backfill_state_id): p for p in base.progress}
        top = by_id[table.selected_key or ""]  # the cursor starts on the top row: on screen
        moved = later(base, 4, **{top.repository: {"processed_prs": top.processed_prs + 9}})
        app.apply_view(build_view(moved, idle, NOW + timedelta(seconds=4), shown=app.view))
        await pilot.pause()
        # Its row (the Processed cell), the summary's PR count, and the workers' Seen.
        assert sorted(written) == sorted([str(top.backfill_state_id), "worker-a", "worker-b"])
        assert calls == Counter(
            {"repositories._write": 1, "summary.update": 1, "workers._write": 1}
        )
        key = str(top.backfill_state_id)
        assert table.row_text(key)[1].startswith(f"{top.processed_prs + 9:,}/")
        assert table.get_cell(key, "Processed").plain.startswith(f"{top.processed_prs + 9:,}/")
        calls.clear()
        written.clear()

        # A row off screen changes: remembered, not written, until it scrolls into view.
        bottom = by_id[table.ordered_rows[-1].key.value or ""]
        far = later(
            base,
            6,
            **{
                top.repository: {"processed_prs": top.processed_prs + 9},
                bottom.repository: {"processed_prs": bottom.processed_prs + 5},
            },
        )
        app.apply_view(build_view(far, moved, NOW + timedelta(seconds=6), shown=app.view))
        await pilot.pause()
        low = str(bottom.backfill_state_id)
        assert low not in written
        assert table.row_text(low)[1].startswith(f"{bottom.processed_prs + 5:,}/")
        assert not table.get_cell(low, "Processed").plain.startswith(
            f"{bottom.processed_prs + 5:,}/"
        )
        table.move_cursor(row=len(table.ordered_rows) - 1, animate=False)
        await pilot.pause()
        assert low in written
        assert table.get_cell(low, "Processed").plain.startswith(f"{bottom.processed_prs + 5:,}/")


class CountingBackend(FixedBackend):
    """The fixed backend, counting reads; each detail read is one error later than the last."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    async def snapshot(self) -> StatsReport:
        self.reads["snapshot"] += 1
        return await super().snapshot()

    async def detail(self, backfill_state_id: str) -> BackfillDetail | None:
        self.reads["detail"] += 1
        shown = await super().detail(backfill_state_id)
        assert shown is not None
        return shown.model_copy(update={"last_error": f"read {self.reads['detail']}"})


async def test_the_detail_screen_is_read_by_the_poll_not_by_a_timer_of_its_own() -> None:
    """One batch of reads per poll: with a detail screen open, each poll reads the snapshot
    and that backfill's detail, and the screen shows what the poll read."""
    backend = CountingBackend()
    app = BackfillConsole(backend, autopoll=False, now=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        app.poll()
        await settle(app, pilot)
        app.action_detail()
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert backend.reads == Counter({"snapshot": 1, "detail": 1})  # opening reads once
        for poll in range(2, 5):
            app.poll()
            await settle(app, pilot)
            assert backend.reads == Counter({"snapshot": poll, "detail": poll})
            assert f"read {poll}" in str(screen.query_one("#detail-state").render())
        await pilot.press("escape")
        await settle(app, pilot)
        app.poll()
        await settle(app, pilot)
        assert backend.reads == Counter({"snapshot": 5, "detail": 4})  # closed: not read
