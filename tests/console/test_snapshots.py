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
from tests.console.fixed import NOW, FixedBackend, installation_budgets

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


async def in_detail(pilot: Any) -> None:
    await on_legacy(pilot)
    await pilot.press("enter")
    app: BackfillConsole = pilot.app
    await asyncio.gather(*(w.wait() for w in app.workers), return_exceptions=True)
    await pilot.pause()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare, size: str) -> None:
    """acme/legacy: failed, its chunks, the failed chunk's error in full."""
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=in_detail)


@pytest.mark.parametrize("size", SIZES)
def test_remove_confirmation(snap_compare, size: str) -> None:
    assert snap_compare(console(), terminal_size=SIZES[size], run_before=on_legacy, press=["x"])


@pytest.mark.parametrize("size", SIZES)
def test_budgets_of_several_installations(snap_compare, size: str) -> None:
    """Every token/installation by name with remaining/limit and reset, lowest first; those
    beyond four are counted. Fits 80x24 and 120x40 (issue 18)."""
    app = console()
    backend = app.backend
    assert isinstance(backend, FixedBackend)
    backend.fixed = dataclasses.replace(backend.fixed, budgets=installation_budgets())
    assert snap_compare(app, terminal_size=SIZES[size], run_before=polled)
