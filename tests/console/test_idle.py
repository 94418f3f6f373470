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
from core.monitoring import StatsReport
from core.store.models import BackfillDetail
from tests.support.console_fixed import NOW, FixedBackend, later, report
from tests.support.console_pilot import settle

REDRAWS = ("update_cell", "add_row", "remove_row", "clear")


async def test_an_idle_poll_redraws_nothing_and_a_change_redraws_only_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: Counter[str] = Counter()
    updated: list[str] = []

    def spy(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls[f"{self.id}.{name}"] += 1
            if name == "update_cell":
                updated.append(str(args[0]))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)

    base = report(repositories=50)
    app = BackfillConsole(FixedBackend(), autopoll=False, now=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_view(build_view(base, None, NOW))
        await pilot.pause()
        spy(Static, "update")
        for name in REDRAWS:
            spy(DataTable, name)

        idle = later(base, 2)
        app.apply_view(build_view(idle, base, NOW + timedelta(seconds=2), shown=app.view))
        await pilot.pause()
        # Only what the clock moves on screen: the live workers' "Seen" (3s -> 5s ago, 8s ->
        # 10s ago); not a repository row, not a panel, not the budget (reset still in 12m).
        assert calls == Counter({"workers.update_cell": 2})
        calls.clear()

        one = base.progress[10]
        moved = later(base, 4, **{one.repository: {"processed_prs": one.processed_prs + 9}})
        app.apply_view(build_view(moved, idle, NOW + timedelta(seconds=4), shown=app.view))
        await pilot.pause()
        # Its Processed cell, the summary's PR count (and the workers' Seen).
        assert set(updated) - {"worker-a", "worker-b"} == {str(one.backfill_state_id)}
        assert calls == Counter(
            {"repositories.update_cell": 1, "summary.update": 1, "workers.update_cell": 2}
        )
        table = app.query_one("#repositories")
        assert table.row_text(str(one.backfill_state_id))[1].startswith(
            f"{one.processed_prs + 9:,}/"
        )


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
