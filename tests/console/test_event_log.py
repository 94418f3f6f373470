"""The event log screen (`e`) with a long session: every event searchable, only the newest
matches drawn, counts kept as events come (red team: 10,000 events took seconds to open and
every keystroke of a search redrew them all)."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, RichLog, Static

from console.app import BackfillConsole
from console.screens import EventLogScreen
from tests.support.console_fixed import NOW, FixedBackend


def title(app: BackfillConsole) -> str:
    return str(app.screen.query_one("#log-title", Static).render())


async def test_a_long_session_draws_the_newest_and_searches_all() -> None:
    app = BackfillConsole(FixedBackend(repositories=3), autopoll=False, now=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        for n in range(10_000):
            app.log_event(f"o/r{n % 7}: event {n:,}")
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EventLogScreen)
        log = app.screen.query_one("#log", RichLog)
        drawn = EventLogScreen.SHOWN_AT_MOST
        assert len(log.lines) == drawn
        assert log.lines[-1].text.endswith("event 9,999")
        assert "10,000 of 10,000 events (the newest 2,000 shown" in title(app)

        # A search reads the whole session, the oldest events included, once typing settles.
        await pilot.press("slash", *"event 7,")
        await asyncio.sleep(EventLogScreen.SEARCH_SETTLES * 3)
        await pilot.pause()
        assert app.screen.query_one("#search", Input).value == "event 7,"
        assert "1,000 of 10,000 events containing “event 7,”" in title(app)
        assert [s.text.split(": ", 1)[1] for s in log.lines[:2]] == ["event 7,000", "event 7,001"]

        # Events that come while it is open are counted without a recount.
        app.log_event("o/r1: event 7,abc")
        app.log_event("o/r1: something else")
        await pilot.pause()
        assert "1,001 of 10,002 events containing" in title(app)
        assert log.lines[-1].text.endswith("event 7,abc")
