"""Every key against a real engine: the embedded test database, the simulator over HTTP and
real worker processes. Each test checks the database, not only the screen."""

from __future__ import annotations

import io
import os
import socket

import pytest
from pydantic import SecretStr
from rich.console import Console
from textual.widgets import Button, Input, Static

from console.app import BackfillConsole
from console.backend import Backend
from console.screens import (
    AddRepositoriesScreen,
    ConfirmLiveRecovery,
    HelpScreen,
    RecoveryPlanScreen,
)
from console.widgets import KeyedTable
from tests.support.console_pilot import (
    SIZE,
    backfills,
    make_stuck_chunk,
    refresh,
    register,
    rows,
    settle,
    wait_for,
)


def plain(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def chunk_statuses(database_url: str) -> list[str]:
    return [r["status"] for r in rows(database_url, "SELECT status FROM backfill_chunks")]


# Panels --------------------------------------------------------------------------------------


async def test_panels_show_what_the_database_holds(make_app, database_url: str) -> None:
    register(database_url, "acme/api", "acme/web")
    make_stuck_chunk(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        table = app.query_one("#repositories", KeyedTable)
        shown = {table.row_text(key.value)[0] for key in table.rows}
        assert shown == {"acme/api", "acme/web", "acme/stuck"}
        chunks = str(app.query_one("#chunks").render())
        assert "1 stuck" in chunks and "acme/stuck #1" in chunks


async def test_rows_update_in_place_and_the_cursor_stays(make_app, database_url: str) -> None:
    register(database_url, "acme/a", "acme/b", "acme/c")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        table = app.query_one("#repositories", KeyedTable)
        await pilot.press("down", "down")
        selected = table.selected_key
        register(database_url, "acme/d")
        rows(database_url, "UPDATE progressive_backfill_state SET processed_prs = 7 RETURNING id")
        await refresh(app, pilot)
        assert table.row_count == 4
        assert table.cursor_row == 2 and table.selected_key == selected
        assert all(table.row_text(key.value)[1].startswith("7/") for key in table.rows)


async def test_a_database_that_cannot_be_reached_is_shown_not_raised(settings) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = SecretStr(f"postgresql://127.0.0.1:{port}/nowhere?connect_timeout=2")
    broken = settings.model_copy(update={"database_url": url})
    app = BackfillConsole(Backend(broken), autopoll=False)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        error = app.query_one("#error")
        assert error.has_class("shown")
        assert "DATABASE_URL" in str(error.render())


# Adding repositories and workers ---------------------------------------------------------


async def test_add_key_registers_and_backfills_with_a_worker_process(
    make_app, database_url: str, local_workers
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, AddRepositoriesScreen)
        await pilot.press(*"acme/web, acme/tiny", "enter")
        await settle(app, pilot, "actions")
        assert set(backfills(database_url)) == {"acme/web", "acme/tiny"}
        assert len(local_workers.started) == 1, "adding starts a worker when none runs"
    # The worker is its own process: it goes on after the console has quit.
    wait_for(lambda: set(backfills(database_url).values()) == {"completed"}, what="backfill")
    stored = rows(database_url, "SELECT count(*) AS n FROM pull_requests")[0]["n"]
    assert stored == 123


async def test_add_rejects_bad_names_and_cancel_writes_nothing(make_app, database_url) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"acme/web not/a/repo", "enter")
        assert isinstance(app.screen, AddRepositoriesScreen), "invalid input keeps the modal"
        assert "not/a/repo" in str(app.screen.query_one("#problem").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, AddRepositoriesScreen)
        await settle(app, pilot)
    assert backfills(database_url) == {}


async def test_add_of_a_missing_repository_reports_it(make_app, database_url) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"acme/does-not-exist", "enter")
        await settle(app, pilot, "actions")
        assert any("acme/does-not-exist" in line for line in app.event_lines)
    assert backfills(database_url) == {}


async def test_worker_keys_start_and_stop_a_process(make_app, database_url, local_workers) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        assert len(local_workers.started) == 1
        worker_id, process = local_workers.started[0]
        wait_for(
            lambda: rows(database_url, "SELECT 1 FROM backfill_workers() WHERE id = %s", worker_id),
            what="the worker's heartbeat",
        )
        await refresh(app, pilot)
        assert worker_id in app.query_one("#workers", KeyedTable).rows
        await pilot.press("s")
        assert process.wait(timeout=30) == 0, "SIGTERM lets the worker exit cleanly"
        assert local_workers.started == []


# Recovery ------------------------------------------------------------------------------------


async def test_dry_run_shows_the_plan_and_changes_nothing(make_app, database_url) -> None:
    make_stuck_chunk(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await settle(app, pilot, "poll")
        await pilot.pause(0.3)
        assert isinstance(app.screen, RecoveryPlanScreen)
        assert len(app.screen.report.chunks) == 1
        assert app.screen.report.chunks[0].repository == "acme/stuck"
        await pilot.press("escape")
    assert chunk_statuses(database_url) == ["processing"]


async def test_live_recovery_focuses_cancel_and_cancel_changes_nothing(
    make_app, database_url
) -> None:
    make_stuck_chunk(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmLiveRecovery)
        assert [c.chunk_number for c in app.screen.plan.chunks] == [1]
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmLiveRecovery)
    assert chunk_statuses(database_url) == ["processing"]


async def test_live_recovery_after_confirmation_fixes_the_chunk(make_app, database_url) -> None:
    make_stuck_chunk(database_url)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause(0.3)
        assert isinstance(app.screen, RecoveryPlanScreen)
        await pilot.click("#live")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmLiveRecovery)
        await pilot.press("tab", "enter")  # from Cancel to Run LIVE
        await pilot.pause(0.5)
        await settle(app, pilot, "actions")
        assert any("recovery done: 1 chunk(s) fixed" in line for line in app.event_lines)
    assert chunk_statuses(database_url) == ["failed"]  # no PR data was stored: failed


# Pause, freeze, refresh, filter, help, quit --------------------------------------------


async def test_pause_and_resume_the_selected_backfill(make_app, database_url) -> None:
    register(database_url, "acme/api", "acme/web")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        table = app.query_one("#repositories", KeyedTable)
        await pilot.press("down")
        name = table.row_text(table.selected_key)[0]
        await pilot.press("p")
        await settle(app, pilot, "actions")
        assert backfills(database_url)[name] == "paused"
        await refresh(app, pilot)
        await pilot.press("p")
        await settle(app, pilot, "actions")
        assert backfills(database_url)[name] == "pending"
        assert sorted(backfills(database_url).values()) == ["pending", "pending"]


async def test_freeze_stops_updates_until_unfrozen(make_app, database_url) -> None:
    register(database_url, "acme/api")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        table = app.query_one("#repositories", KeyedTable)
        await pilot.press("f")
        assert app.frozen and "FROZEN" in app.sub_title
        register(database_url, "acme/web")
        await refresh(app, pilot)
        assert table.row_count == 1
        await pilot.press("f")
        await settle(app, pilot, "poll")
        assert table.row_count == 2


async def test_refresh_interval_keys(make_app) -> None:
    app = make_app(refresh=2.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("plus")
        assert app.refresh_seconds == 1.0
        await pilot.press("minus", "minus")
        assert app.refresh_seconds == 5.0
        assert "refresh 5s" in app.sub_title


async def test_filter_shows_matching_repositories_and_escape_clears(make_app, database_url) -> None:
    register(database_url, "acme/api", "acme/web", "other/website")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        table = app.query_one("#repositories", KeyedTable)
        await pilot.press("slash", *"web")
        assert {table.row_text(k.value)[0] for k in table.rows} == {"acme/web", "other/website"}
        await pilot.press("enter")
        await refresh(app, pilot)
        assert table.row_count == 2, "the filter holds across refreshes"
        await pilot.press("slash", "escape")
        assert table.row_count == 3
        assert not app.query_one("#filter", Input).display


async def test_help_lists_every_key_and_closes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#keys", Static).content)
        assert "Recover stuck chunks LIVE" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_quit_key_exits_and_leaves_workers_running(make_app, local_workers) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    _, process = local_workers.started[0]
    assert process.poll() is None, "a worker is its own process and session"
    assert os.getpgid(process.pid) != os.getpgid(0), "in its own session"


# Read-only, remapping, palette --------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "w", "s", "r", "p"])
async def test_readonly_ignores_every_control(make_app, database_url, key: str) -> None:
    register(database_url, "acme/api")
    make_stuck_chunk(database_url)
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(app, pilot)
        await pilot.press(key)
        await pilot.pause(0.3)
        assert app.screen is app.screen_stack[0], f"{key} opened {app.screen}"
        footer_keys = {b.binding.key for b in app.active_bindings.values() if b.enabled}
        assert key not in footer_keys
    assert chunk_statuses(database_url) == ["processing"]
    assert set(backfills(database_url).values()) <= {"pending", "active"}


async def test_readonly_dry_run_offers_no_live_button(make_app, database_url) -> None:
    make_stuck_chunk(database_url)
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause(0.3)
        assert isinstance(app.screen, RecoveryPlanScreen)
        assert not app.screen.query("#live")


async def test_keys_can_be_remapped(make_app, database_url) -> None:
    make_stuck_chunk(database_url)
    app = make_app(keymap={"recover_live": "R"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmLiveRecovery)
        await pilot.press("R")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmLiveRecovery)


async def test_command_palette_holds_the_same_commands(make_app) -> None:
    for readonly, expected in ((False, True), (True, False)):
        app = make_app(readonly=readonly)
        async with app.run_test(size=SIZE):
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Dry run", "Freeze", "Filter", "Help"} <= titles
            assert ("Recover" in titles) is expected
            assert ("Add" in titles) is expected


async def test_palette_runs_a_command_by_name(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Freeze")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.frozen
