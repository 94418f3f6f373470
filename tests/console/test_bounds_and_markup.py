"""Input bounds give one clear usage line, and text from the database is never read as Rich
markup."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from rich.console import Console
from textual.widgets import Input

from console.screens import plan_table
from core.recovery import recover
from core.store import Store
from tests.support.recovery_cli import cli
from tests.support.recovery_rows import stuck_chunk

MARKUP = "[/x]evil[bold]"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["worker", "--concurrency", "5000"], "database connection"),
        (["worker", "--lease-seconds", "3000000000"], "--lease-seconds"),
        (["recover", "--cleanup-days", "100000000"], "--cleanup-days"),
        (["recover", "--stuck-threshold", "100000000"], "--stuck-threshold"),
        (["--refresh", "1e-9"], "--refresh"),
        (["--refresh", "nan"], "--refresh"),
    ],
)
def test_out_of_range_values_are_one_clear_line(
    cli_env: dict[str, str], args: list[str], needle: str
) -> None:
    result = subprocess.run(
        ["backfill-console", *args], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert "error:" in error and needle in error and "must be from" in error


async def arrange(store: Store, db) -> None:
    _, chunk = await stuck_chunk(store, db, "markup", minutes=45, expected=3, stored=1)
    db.execute("UPDATE backfill_chunks SET worker_id = %s WHERE id = %s", (MARKUP, chunk.id))


async def test_stats_and_recover_show_markup_in_worker_ids_as_text(
    store: Store, db, cli_env: dict[str, str]
) -> None:
    await arrange(store, db)
    stats = await cli(cli_env, "stats")
    assert stats.code == 0, stats.err
    assert MARKUP in stats.out
    dry = await cli(cli_env, "recover", "--dry-run")
    assert dry.code == 0, dry.err
    assert "/x]evil" in dry.out  # the table may wrap it, but it is shown, not parsed


async def test_the_recovery_dialog_shows_markup_as_text(store: Store, db) -> None:
    await arrange(store, db)
    plan = await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=True)
    console = Console(width=200, record=True)
    console.print(plan_table(plan))
    assert MARKUP in console.export_text()


@pytest.mark.parametrize("typed", ["[/", "[bold]x", "[/x]evil[bold]"])
async def test_filter_text_with_markup_is_shown_as_typed(typed: str) -> None:
    """The repositories' title quotes the filter as typed: "[/" closed the console with a
    MarkupError and "[bold]" was read as a style. An error notice quotes text too."""
    from console.app import BackfillConsole
    from console.widgets import KeyedTable
    from tests.support.console_fixed import NOW, FixedBackend

    app = BackfillConsole(
        FixedBackend(repositories=1_000, mixed=True), autopoll=False, now=lambda: NOW
    )
    async with app.run_test(size=(120, 40)) as pilot:
        app.poll()
        await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        app.query_one("#filter", Input).insert_text_at_cursor(typed)
        await pilot.pause()
        table = app.query_one("#repositories", KeyedTable)
        assert f"name “{typed}”" in table._border_title.plain  # type: ignore[union-attr]
        app._fail(f"add failed: {typed}")
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (None, 0)
