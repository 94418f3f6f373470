"""The detail screen against the real engine, retry, remove, sort, --readonly."""

from __future__ import annotations

from console.detail import DetailScreen
from console.screens import ConfirmRemove, RecoveryPlanScreen
from console.widgets import KeyedTable
from tests.support.console_pilot import (
    LONG_ERROR,
    SIZE,
    backfills,
    fail,
    refresh,
    register,
    rows,
    select,
    settle,
    wait_for,
)

TABLES = ("repositories", "progressive_backfill_state", "backfill_chunks", "pull_requests")


def counts(database_url: str) -> dict[str, int]:
    return {t: rows(database_url, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in TABLES}


async def open_detail(app, pilot, repo: str) -> None:  # type: ignore[no-untyped-def]
    """The first poll, then `repo`'s detail screen with its first read shown."""
    await refresh(app, pilot)
    await select(app, pilot, repo)
    await pilot.press("enter")
    await settle(app, pilot, "detail")
    assert isinstance(app.screen, DetailScreen) and app.screen.repository == repo


async def test_enter_shows_the_chunks_and_a_failed_chunks_full_error(make_app, database_url):
    register(database_url, "acme/api", "acme/web")
    fail(database_url, "acme/web")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await select(app, pilot, "acme/web")
        await pilot.press("enter")
        await settle(app, pilot, "detail")
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.repository == "acme/web"
        await pilot.pause(0.2)
        chunk = screen.chunks_text()
        assert [c[0] for c in chunk] == ["#1"] and "failed" in chunk[0]  # kind may come first
        assert chunk[0][-1] == LONG_ERROR.strip().replace("  ", " ")
        error = str(screen.query_one("#detail-error-text").render())
        assert "THE END" in error and "Chunk #1 error" in error
        state = str(screen.query_one("#detail-state").render())
        assert "GitHub refused the token" in state and "1 error" in state
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


async def test_retry_turns_a_failed_backfill_into_one_that_completes(make_app, database_url):
    register(database_url, "acme/tiny", total=3)
    fail(database_url, "acme/tiny")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await pilot.press("t")
        await settle(app, pilot, "actions")
        assert backfills(database_url) == {"acme/tiny": "pending"}
        assert any("acme/tiny: retried" in line for line in app.event_lines)
        await pilot.press("w")  # a worker process picks it up
        wait_for(lambda: backfills(database_url) == {"acme/tiny": "completed"}, what="completed")
    prs = rows(database_url, "SELECT count(*) AS n FROM pull_requests")[0]["n"]
    assert prs == 3


async def test_retry_of_a_backfill_that_did_not_fail_changes_nothing(make_app, database_url):
    register(database_url, "acme/api")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await pilot.press("t")
        await settle(app, pilot, "actions")
        assert any("only a failed one is retried" in line for line in app.event_lines)
    assert backfills(database_url) == {"acme/api": "pending"}


async def test_remove_deletes_exactly_that_repository(make_app, database_url):
    register(database_url, "acme/api", "acme/web")
    fail(database_url, "acme/web")
    fail(database_url, "acme/api")
    before = counts(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await select(app, pilot, "acme/web")
        await pilot.press("enter")
        await settle(app, pilot, "detail")
        await pilot.press("x")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ConfirmRemove)
        assert app.screen.counts.repository == "acme/web" and app.screen.counts.chunks == 1
        assert counts(database_url) == before, "counting deletes nothing"
        await pilot.press("tab", "enter")  # from Cancel to Remove
        await settle(app, pilot, "actions")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (ConfirmRemove, DetailScreen))
    assert backfills(database_url) == {"acme/api": "failed"}
    assert counts(database_url) == {
        "repositories": before["repositories"] - 1,
        "progressive_backfill_state": before["progressive_backfill_state"] - 1,
        "backfill_chunks": before["backfill_chunks"] - 1,
        "pull_requests": before["pull_requests"],
    }


async def test_a_backfill_removed_elsewhere_closes_its_detail_screen_once(make_app, database_url):
    """Another client removes the repository on screen: the next polls find its detail gone,
    the screen closes and the log says so once, however many polls saw it gone."""
    register(database_url, "acme/api", "acme/web")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(app, pilot, "acme/web")
        (gone,) = rows(
            database_url,
            "SELECT remove_repository(id, false) AS counts FROM repositories WHERE name = 'web'",
        )
        assert gone["counts"]["removed"]
        app.poll()
        app.poll()  # a second poll before the screen has closed
        await refresh(app, pilot)
        await pilot.pause(0.2)
        assert not isinstance(app.screen, DetailScreen)
        assert sum("acme/web: removed" in line for line in app.event_lines) == 1
    assert backfills(database_url) == {"acme/api": "pending"}


async def test_cancel_on_remove_changes_nothing(make_app, database_url):
    register(database_url, "acme/api")
    before = counts(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await pilot.press("x")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ConfirmRemove)
        await pilot.press("enter")  # the focus starts on Cancel
        await settle(app, pilot, "actions")
        assert any("cancelled: nothing changed" in line for line in app.event_lines)
    assert counts(database_url) == before


async def test_readonly_hides_retry_remove_and_changes_nothing(make_app, database_url):
    register(database_url, "acme/api")
    fail(database_url, "acme/api")
    before = counts(database_url)
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot, "detail")
        assert isinstance(app.screen, DetailScreen), "reading is allowed"
        for key in ("t", "x", "p"):
            await pilot.press(key)
            await pilot.pause(0.3)
            assert isinstance(app.screen, DetailScreen)
        enabled = {b.binding.key for b in app.active_bindings.values() if b.enabled}
        assert not {"t", "x", "p"} & enabled
    assert counts(database_url) == before
    assert backfills(database_url) == {"acme/api": "failed"}


async def test_dry_run_on_the_detail_screen_is_limited_to_it(make_app, database_url):
    from tests.support.console_pilot import make_stuck_chunk

    make_stuck_chunk(database_url, "acme/stuck")
    register(database_url, "acme/other")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await select(app, pilot, "acme/other")
        await pilot.press("enter")
        await settle(app, pilot, "detail")
        await pilot.press("d")
        await pilot.pause(0.5)
        assert isinstance(app.screen, RecoveryPlanScreen)
        assert app.screen.report.chunks == [] and not app.screen.query("#live")
    assert [r["status"] for r in rows(database_url, "SELECT status FROM backfill_chunks")] == [
        "processing"
    ]


async def test_sort_cycles_and_the_cursor_stays_on_the_repository(make_app, database_url):
    register(database_url, "acme/b", "acme/c", "acme/a")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await select(app, pilot, "acme/c")
        table = app.query_one("#repositories", KeyedTable)
        await pilot.press("o")
        await pilot.pause()
        assert app.sort_by == "name" and "sorted by name" in app.sub_title
        order = [
            table.row_text(table.coordinate_to_cell_key((i, 0)).row_key.value)[0]
            for i in range(table.row_count)
        ]
        assert order == ["acme/a", "acme/b", "acme/c"]
        assert table.row_text(table.selected_key)[0] == "acme/c"
        for expected in ("progress", "rate", "ETA", "status", "attention", "name"):
            await pilot.press("o")
            assert app.sort_by == expected
