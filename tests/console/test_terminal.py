"""The console in a real terminal: a pty, read back through a terminal emulator (pyte)."""

from __future__ import annotations

import time

import pytest

from tests.support.terminal import terminal, terminal_env


@pytest.mark.slow
def test_demo_shows_panels_a_dry_run_a_detail_screen_and_quits_promptly() -> None:
    """Quitting never waits on a worker, a query or the embedded server: a hang would be 10 s
    or more (the engine's close and the server's stop are capped well below that). The bound
    is loose on purpose: timings belong to benchmarks, and 2 s failed on a loaded 2-core CI
    machine without any hang."""
    with terminal("demo", env=terminal_env()) as term:
        term.wait_for("GraphQL budget", "Chunks", "Repositories", "demo/web", "points")
        term.press("d")
        term.wait_for("DRY RUN")
        term.press("\x1b")  # close the plan
        time.sleep(0.5)
        term.press("\r")  # Enter: the selected repository's detail screen
        term.wait_for("Recent chunks", "Cursor", "Lease")
        term.press("\x1b")  # and back
        term.wait_for("GraphQL budget", "Repositories")
        time.sleep(0.5)
        term.press("q")
        status, seconds = term.wait_exit(timeout=10)
        assert status == 0, term.text()
        assert seconds < 6.0, f"quitting took {seconds:.2f}s"


def test_console_exits_when_its_terminal_goes_away(database_url: str, tmp_path) -> None:
    env = terminal_env(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path))
    with terminal("--readonly", env=env) as term:
        term.wait_for("Repositories", "0 repos")
        term.hang_up()
        status, _ = term.wait_exit(timeout=15)
        assert status is not None, "the console kept running without its terminal"
