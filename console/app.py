"""The Textual console: live panels from the database, keys that drive the engine.

A thin client of `core`: every number comes from one `StatsReport` per poll, every action
is an engine call made on the backend's thread (`console.backend`). Polls run as exclusive
workers, so a slow database never freezes the screen and a newer poll replaces an older one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Header, Input, ProgressBar, RichLog, Sparkline, Static

from console.backend import Backend
from console.detail import DetailScreen
from console.exit_codes import INTERRUPTED
from console.format import stamped
from console.keys import BY_ID, COMMANDS, MAIN
from console.local_workers import LocalWorkers
from console.panels.repositories import REPOSITORY_COLUMNS, SORTS
from console.panels.states import STATES
from console.panels.workers import WORKER_COLUMNS
from console.screens import (
    AddRepositoriesScreen,
    ConfirmLiveRecovery,
    ConfirmRemove,
    EventLogScreen,
    HelpScreen,
    RecoveryPlanScreen,
)
from console.view import View, build_view
from console.widgets import ConsoleFooter, KeyedTable
from core.errors import BackfillError
from core.monitoring import StatsReport
from core.recovery import RecoveryReport
from core.store.models import BackfillDetail, BackfillProgress

REFRESH_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
BUDGET_HISTORY = 120  # sparkline points
EVENT_LINES = 1000  # in the events panel
EVENT_HISTORY = 100_000  # in the event log screen (`e`): this session's, searchable
# A full collection of the console's heap (a thousand rows of cells, Textual's widgets and
# caches) takes tens of milliseconds and lands on whichever refresh allocates next: at
# Python's default (700, 10, 10) that was every few refreshes with 1,000 repositories
# (bench/bench_console.py's p95). A poll's garbage holds no cycles that matter and reference
# counting frees it; cycles are collected rarely.
CONSOLE_GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """For a process that runs the console: collect cycles rarely (`CONSOLE_GC_THRESHOLDS`)."""
    gc.set_threshold(*CONSOLE_GC_THRESHOLDS)


def stylesheet() -> Path:
    """styles.tcss: inside the installed package, or at the top of a source checkout."""
    packaged = Path(__file__).with_name("styles.tcss")
    return packaged if packaged.exists() else Path(__file__).parents[1] / "styles.tcss"


class Companion(Protocol):
    """Something that runs beside the console (the demo's script) and reports events."""

    def start(self, report: Callable[[str], None]) -> None: ...

    def stop(self) -> None: ...


class SnapshotReady(Message):
    """One poll's reads: the report and its view, and the open detail screen's backfill
    (`detail_of`) read in the same poll: its detail, None when it is gone, or why it failed."""

    def __init__(
        self,
        report: StatsReport,
        view: View,
        detail_of: str | None = None,
        detail: BackfillDetail | Exception | None = None,
    ) -> None:
        super().__init__()
        self.report = report
        self.view = view
        self.detail_of = detail_of
        self.detail = detail

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)  # only the newest snapshot matters


class PollFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def describe(exc: BaseException) -> str:
    if isinstance(exc, BackfillError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def set_plain_title(widget: Any, title: str) -> None:
    """Set `widget`'s border title to `title` as plain text. A str border title is parsed as
    markup, and this one quotes what the user typed in the filter: "[/" raised MarkupError
    and closed the console, "[bold]" vanished into a style. Set only when it changed (the
    title reads back as escaped markup), so a poll does not repaint it for nothing."""
    content = Content(title)
    if widget.border_title != content.markup:
        widget.border_title = content


class BackfillConsole(App[None]):
    CSS_PATH = stylesheet()
    TITLE = "backfill-console"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [command.binding() for command in MAIN]

    refresh_seconds: reactive[float] = reactive(2.0)
    frozen: reactive[bool] = reactive(False, bindings=True, init=False)
    filter_text: reactive[str] = reactive("")
    sort_by: reactive[str | None] = reactive(None)  # None: attention first
    state_filter: reactive[str | None] = reactive(None)  # one of STATES; None: every state

    def __init__(
        self,
        backend: Backend,
        *,
        local_workers: LocalWorkers | None = None,
        readonly: bool = False,
        refresh: float = 2.0,
        keymap: dict[str, str] | None = None,
        companion: Companion | None = None,
        autopoll: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.backend = backend
        self.local_workers = local_workers
        self.readonly = readonly
        self.keymap = keymap or {}
        self.companion = companion
        self.autopoll = autopoll
        self.now = now
        self.report: StatsReport | None = None
        self.view: View | None = None  # what the widgets show (apply_view compares with it)
        self.budget_history: deque[float] = deque(maxlen=BUDGET_HISTORY)
        # The event log's plain text (for tests and scripts) and its lines as shown, for the
        # event log screen: this session's whole log, bounded only against a runaway.
        self.event_lines: deque[str] = deque(maxlen=EVENT_HISTORY)
        self.event_history: deque[Text] = deque(maxlen=EVENT_HISTORY)
        self._poll_timer: Timer | None = None
        self.set_reactive(BackfillConsole.refresh_seconds, refresh)

    # Layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("connecting to the database…", id="summary")
        yield Static("", id="error")
        with Horizontal(id="top"):
            with Vertical(id="budget", classes="panel"):
                yield Static("no budget seen yet: no worker has queried GitHub", id="budget-text")
                yield ProgressBar(id="budget-gauge", show_eta=False)
                yield Sparkline([], id="budget-spark")
            yield Static("", id="chunks", classes="panel")
            yield KeyedTable(WORKER_COLUMNS, id="workers", classes="panel")
        yield KeyedTable(REPOSITORY_COLUMNS, id="repositories", classes="panel")
        yield RichLog(id="events", classes="panel", max_lines=EVENT_LINES, markup=False, wrap=True)
        yield Input(placeholder="filter repositories (Enter keeps it, Escape clears)", id="filter")
        yield ConsoleFooter(c.id for c in MAIN if not c.narrow)

    def on_mount(self) -> None:
        titles = {
            "#budget": "GraphQL budget",
            "#chunks": "Chunks (24 h)",
            "#workers": "Workers",
            "#repositories": "Repositories",
            "#events": "Events",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#filter", Input).display = False
        # No budget yet: an indeterminate bar would animate (and cost CPU) for nothing.
        self.query_one("#budget-gauge", ProgressBar).display = False
        self.query_one("#repositories", KeyedTable).focus()
        if self.keymap:
            self.set_keymap(self.keymap)
        self._update_subtitle()
        self.backend.start()
        if self.companion is not None:
            self.companion.start(lambda message: self.call_from_thread(self.log_event, message))
        if self.autopoll:
            self._poll_timer = self.set_interval(self.refresh_seconds, self.poll)
            self.poll()
        if not self.is_headless:
            self._watch_terminal()

    def on_unmount(self) -> None:
        if self.companion is not None:
            self.companion.stop()
        self.backend.close()

    # Polling --------------------------------------------------------------------------------

    def poll(self) -> None:
        if not self.frozen:
            self._poll()

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def _poll(self) -> None:
        """One poll: the snapshot and, when a detail screen is open, its backfill's detail,
        read together (one batch of reads per refresh, dolphie's model: no screen polls on a
        timer of its own), then the view built off the UI thread."""
        open_screen = self._detail_screen()
        detail_of = open_screen.backfill_state_id if open_screen is not None else None
        try:
            report, detail = await asyncio.gather(
                self.backend.snapshot(), self._read_detail(detail_of)
            )
        except Exception as exc:  # shown in the error line; the next poll retries
            self.post_message(PollFailed(describe(exc)))
            return
        view = await asyncio.to_thread(
            build_view,
            report,
            self.report,
            self.now(),
            filter_text=self.filter_text,
            sort=self.sort_by,
            shown=self.view,
            state=self.state_filter,
        )
        self.post_message(SnapshotReady(report, view, detail_of, detail))

    async def _read_detail(
        self, backfill_state_id: str | None
    ) -> BackfillDetail | Exception | None:
        """The detail screen's read within a poll; a failure is the screen's to show (the
        snapshot's still applies)."""
        if backfill_state_id is None:
            return None
        try:
            return await self.backend.detail(backfill_state_id)
        except Exception as exc:
            return exc

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if self.frozen:
            return
        self.report = message.report
        self.apply_view(message.view)
        screen = self._detail_screen()
        if screen is not None and screen.backfill_state_id == message.detail_of:
            screen.answered(message.detail, message.report)

    def on_detail_screen_read_wanted(self, message: DetailScreen.ReadWanted) -> None:
        """A detail screen opened: its first read now, not at the next poll (none when
        frozen: the screen shows what the last poll read, like the main screen)."""
        if not self.frozen:
            self._first_detail_read(message.backfill_state_id)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def _first_detail_read(self, backfill_state_id: str) -> None:
        detail = await self._read_detail(backfill_state_id)
        screen = self._detail_screen()
        if screen is not None and screen.backfill_state_id == backfill_state_id:
            screen.answered(detail, self.report)

    def on_detail_screen_gone(self, message: DetailScreen.Gone) -> None:
        if message.screen.is_current:  # once, however many polls saw it gone
            self.log_event(f"{message.screen.repository}: removed")
            message.screen.dismiss()

    def on_detail_screen_recovery_plan_wanted(
        self, message: DetailScreen.RecoveryPlanWanted
    ) -> None:
        self._recover_plan_for(message.backfill_state_id, message.repository)

    def _detail_screen(self) -> DetailScreen | None:
        """The open detail screen, also under a dialog opened from it (a removal's
        confirmation, a dry run): it stays live like the main screen does."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DetailScreen):
                return screen
        return None

    def on_poll_failed(self, message: PollFailed) -> None:
        error = self.query_one("#error", Static)
        error.update(
            Text(f"{message.error} — retrying every {self.refresh_seconds:g}s", style="bold")
        )
        error.add_class("shown")

    def apply_view(self, view: View) -> None:
        """Copy `view` into the widgets, touching only what differs from the view shown
        (`self.view`): an unchanged panel is not updated, so nothing is laid out or redrawn
        when nothing changed (an idle console's polls cost a read and a comparison)."""
        shown = self.view
        with self.batch_update():
            error = self.query_one("#error", Static)
            if error.has_class("shown"):
                error.remove_class("shown")
            if shown is None or view.summary != shown.summary:
                self.query_one("#summary", Static).update(view.summary)
            repositories = self.query_one("#repositories", KeyedTable)
            set_plain_title(repositories, view.title)
            repositories.apply(view.repositories, view.widest)
            repositories.order(view.order)
            if shown is None:  # the first rows: the cursor on the top one, attention's first
                repositories.move_cursor(row=0, animate=False)
            self.query_one("#workers", KeyedTable).apply(view.workers)
            if shown is None or view.chunks != shown.chunks:
                self.query_one("#chunks", Static).update(view.chunks)
            budget = view.budget
            if budget is not None:
                was = shown.budget if shown is not None else None
                if was is None or budget.shows() != was.shows():
                    # Several tokens/installations: one line each where the sparkline was.
                    self.query_one("#budget").set_class(budget.several, "-several")
                    self.query_one("#budget-text", Static).update(budget.describe())
                gauge = self.query_one("#budget-gauge", ProgressBar)
                gauge.update(total=budget.limit, progress=budget.remaining)
                gauge.display = True
                self.budget_history.append(budget.remaining)
                if len(self.budget_history) > 1:  # one point is not a trend
                    self.query_one("#budget-spark", Sparkline).data = list(self.budget_history)
            for event in view.events:
                self._write_event(event)
        self.view = view

    def log_event(self, message: str, style: str = "") -> None:
        self._write_event(stamped(self.now(), message, style))

    def _write_event(self, line: Text) -> None:
        self.event_lines.append(line.plain)
        self.event_history.append(line)
        self.query_one("#events", RichLog).write(line)
        for screen in self.screen_stack:
            if isinstance(screen, EventLogScreen):
                screen.add(line)

    # Refresh, freeze, filter -------------------------------------------------------------

    def watch_refresh_seconds(self, seconds: float) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = self.set_interval(seconds, self.poll)
        self._update_subtitle()

    def watch_frozen(self, frozen: bool) -> None:
        self._update_subtitle()
        if not frozen:
            self.poll()

    def _update_subtitle(self) -> None:
        parts = [f"refresh {self.refresh_seconds:g}s"]
        if self.frozen:
            parts.append("FROZEN")
        if self.readonly:
            parts.append("read-only")
        if self.filter_text:
            parts.append(f"filter “{self.filter_text}”")
        if self.state_filter:
            parts.append(f"only {self.state_filter}")
        parts.append(f"sorted by {self.sort_by or 'attention'}")
        self.sub_title = " · ".join(parts)

    def action_faster(self) -> None:
        faster = [s for s in REFRESH_STEPS if s < self.refresh_seconds]
        self.refresh_seconds = faster[-1] if faster else REFRESH_STEPS[0]

    def action_slower(self) -> None:
        slower = [s for s in REFRESH_STEPS if s > self.refresh_seconds]
        self.refresh_seconds = slower[0] if slower else REFRESH_STEPS[-1]

    def action_freeze(self) -> None:
        self.frozen = not self.frozen

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one("#repositories", KeyedTable).focus()

    def on_key(self, event: Any) -> None:
        field = self.query_one("#filter", Input)
        if event.key == "escape" and field.has_focus:
            field.value = ""
            field.display = False
            self.query_one("#repositories", KeyedTable).focus()
            event.stop()

    def watch_filter_text(self, _: str) -> None:
        self._refilter()

    def watch_state_filter(self, _: str | None) -> None:
        self._refilter()

    def _refilter(self) -> None:
        """The table again from the last snapshot, for a new name or state filter."""
        self._update_subtitle()
        if self.report is None:
            return
        table = self.query_one("#repositories", KeyedTable)
        table.reset()
        view = build_view(
            self.report,
            None,
            self.now(),
            filter_text=self.filter_text,
            sort=self.sort_by,
            state=self.state_filter,
        )
        set_plain_title(table, view.title)
        table.apply(view.repositories, view.widest)
        table.order(view.order)
        table.move_cursor(row=0, animate=False)
        self.query_one("#summary", Static).update(view.summary)
        if self.view is not None:
            self.view = dataclasses.replace(
                self.view,
                summary=view.summary,
                repositories=view.repositories,
                inputs=view.inputs,
                order=view.order,
                widths=view.widths,
                widest=view.widest,
                title=view.title,
            )

    def action_state_filter(self) -> None:
        """Show only the next state's repositories: failed, stuck, ..., completed, then all."""
        at = STATES.index(self.state_filter) + 1 if self.state_filter in STATES else 0
        self.state_filter = STATES[at] if at < len(STATES) else None

    def action_event_log(self) -> None:
        if not any(isinstance(s, EventLogScreen) for s in self.screen_stack):
            self.push_screen(EventLogScreen(self.event_history, keep=EVENT_HISTORY))

    def action_sort(self) -> None:
        """The next sort column; the cursor stays on the repository it was on."""
        at = SORTS.index(self.sort_by or "attention") + 1
        self.sort_by = SORTS[at % len(SORTS)]

    def watch_sort_by(self, _: str | None) -> None:
        self._update_subtitle()
        if self.report is None:
            return
        view = build_view(
            self.report,
            None,
            self.now(),
            filter_text=self.filter_text,
            sort=self.sort_by,
            state=self.state_filter,
        )
        self.query_one("#repositories", KeyedTable).order(view.order)

    # Controls ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._permitted(action, self.screen)

    def _permitted(self, action: str, screen: Screen[Any]) -> bool | None:
        """Whether `action` runs with `screen` in front: True, False (hidden: read-only, no
        local workers to start or stop, a row's key over another screen) or None (shown
        dimmed: a row's key on the main screen away from the table, `_row_in_reach`)."""
        command = BY_ID.get(action)
        if command is None:
            return True
        if command.control and self.readonly:
            return False
        if command.row and not self._row_in_reach(screen):
            # On the main screen, dimmed (focus the table to use it); over another screen
            # (the event log, a dialog), not offered at all.
            return None if screen is self.screen_stack[0] else False
        return self.local_workers is not None or action not in ("start_worker", "stop_worker")

    def _row_in_reach(self, screen: Screen[Any]) -> bool:
        """Whether a key that acts on the selected repository (`Command.row`) means the
        one the user sees selected: a detail screen is in front, or the repositories table
        has the focus. Not with the event log or the workers focused, nor under a dialog:
        Enter, x or p there must not act on a row the user is not looking at."""
        if isinstance(screen, DetailScreen):
            return True
        focused = screen.focused
        return focused is not None and focused.id == "repositories"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for command in MAIN:
            if command.id != "quit" and self._permitted(command.id, screen):
                yield SystemCommand(
                    command.label, command.help, lambda c=command.id: self.run_action(c)
                )

    def action_help_quit(self) -> None:
        """Ctrl-C: quit with status 130, as `--help`'s exit statuses say (Textual's own
        answer only told the user to press ctrl+q, in the demo too)."""
        self.exit(return_code=INTERRUPTED)

    def action_help(self) -> None:
        keys = {c.id: self.get_key_display(c.binding()) for c in COMMANDS}
        keys.update(self.keymap)
        self.push_screen(HelpScreen(keys, readonly=self.readonly))

    @work(group="actions", exit_on_error=False)
    async def action_add(self) -> None:
        names = await self.push_screen_wait(AddRepositoriesScreen())
        if not names:
            return
        self.log_event(f"adding {', '.join(names)}: asking GitHub for their sizes…")
        try:
            results = await self.backend.add(names)
        except Exception as exc:
            self._fail(f"add failed: {describe(exc)}")
            return
        for result in results:
            self.log_event(f"{result.repository}: {result.outcome} ({result.total_prs:,} PRs)")
        if self._workers_alive():
            self.log_event("a running worker will pick them up")
        elif self.local_workers is not None:
            self.action_start_worker()
        else:
            self.log_event("no worker is running: start one (w) or run `backfill-console worker`")
        self.poll()

    def _workers_alive(self) -> bool:
        """Any worker, on this machine or another, that will claim new backfills."""
        ours = self.local_workers.started if self.local_workers else []
        if any(process.poll() is None for _, process in ours):
            return True
        return any(w.alive for w in self.report.workers) if self.report else False

    def action_start_worker(self) -> None:
        assert self.local_workers is not None
        worker_id = self.local_workers.start()
        self.log_event(f"started worker {worker_id} (its own process; log in the data dir)")

    def action_stop_worker(self) -> None:
        assert self.local_workers is not None
        stopped = self.local_workers.stop_one()
        if stopped is None:
            self._fail("no worker started by this console to stop")
        else:
            self.log_event(f"asked worker {stopped} to stop after its current page")

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def action_recover_plan(self) -> None:
        plan = await self._plan()
        if plan is None:
            return
        self.log_event(
            f"recovery dry run: {len(plan.chunks)} stuck chunk(s), "
            f"{len(plan.leases)} expired lease(s)"
        )
        go_live = await self.push_screen_wait(
            RecoveryPlanScreen(plan, allow_live=self.check_action("recover_live", ()) is True)
        )
        if go_live:
            await self._confirm_and_recover(plan)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def action_recover_live(self) -> None:
        plan = await self._plan()
        if plan is not None:
            await self._confirm_and_recover(plan)

    async def _plan(self) -> RecoveryReport | None:
        try:
            return await self.backend.recover(dry_run=True)
        except Exception as exc:
            self._fail(f"recovery dry run failed: {describe(exc)}")
            return None

    async def _confirm_and_recover(self, plan: RecoveryReport) -> None:
        if not await self.push_screen_wait(ConfirmLiveRecovery(plan)):
            self.log_event("live recovery cancelled: nothing changed")
            return
        try:
            report = await self.backend.recover(dry_run=False)
        except Exception as exc:
            self._fail(f"recovery failed: {describe(exc)}")
            return
        for chunk in report.chunks:
            self.log_event(
                f"recovery: {chunk.repository} #{chunk.chunk_number} {chunk.outcome}: "
                f"{chunk.decision} ({chunk.reason})",
                "green" if chunk.outcome == "applied" else "yellow",
            )
        self.log_event(
            f"recovery done: {report.count('applied')} chunk(s) fixed, "
            f"{sum(1 for lease in report.leases if lease.outcome == 'applied')} lease(s) released, "
            f"{report.cleanup.deleted:,} old chunk(s) deleted",
            "green" if report.ok else "yellow",
        )
        self.poll()

    def selected(self) -> BackfillProgress | None:
        """The repository actions act on: the one on the detail screen, else the row under
        the cursor."""
        if isinstance(self.screen, DetailScreen):
            key: str | None = self.screen.backfill_state_id
        else:
            key = self.query_one("#repositories", KeyedTable).selected_key
        progress = {
            str(p.backfill_state_id): p for p in (self.report.progress if self.report else [])
        }
        return progress.get(key or "")

    def action_detail(self) -> None:
        selected = self.selected()
        if selected is None:
            self._fail("select a repository first")
            return
        if not isinstance(self.screen, DetailScreen):
            self.push_screen(DetailScreen(str(selected.backfill_state_id), selected.repository))

    def on_data_table_row_selected(self, event: Any) -> None:
        if event.data_table.id == "repositories":
            self.action_detail()

    @work(group="actions", exit_on_error=False)
    async def action_retry(self) -> None:
        selected = self.selected()
        if selected is None:
            self._fail("select a repository first")
            return
        try:
            retried = await self.backend.retry(str(selected.backfill_state_id))
        except Exception as exc:
            self._fail(f"retry failed: {describe(exc)}")
            return
        if not retried:
            self._fail(f"{selected.repository} is {selected.status}: only a failed one is retried")
            return
        self.log_event(f"{selected.repository}: retried: pending again, from its stored cursor")
        if not self._workers_alive():
            self.log_event("no worker is running: start one (w) or run `backfill-console worker`")
        self._reload()

    @work(group="actions", exit_on_error=False)
    async def action_sync_now(self) -> None:
        """Make the selected repository's sync due now (`request_sync`); a running worker
        claims it as it claims any due sync, as `backfill-console sync` does."""
        selected = self.selected()
        if selected is None:
            self._fail("select a repository first")
            return
        backfill_state_id = selected.backfill_state_id
        try:
            marked = await self.backend.call(lambda store: store.request_sync([backfill_state_id]))
        except Exception as exc:
            self._fail(f"sync failed: {describe(exc)}")
            return
        if not marked:
            self._fail(
                f"{selected.repository} is {selected.status}: only a completed backfill is "
                "synced (the backfill itself reaches the changes)"
            )
            return
        self.log_event(f"{selected.repository}: sync requested: due now")
        if self._workers_alive():
            self.log_event("a running worker will sync it (unless it runs with --sync-every 0)")
        else:
            self.log_event("no worker is running: start one (w) or run `backfill-console worker`")
        self._reload()

    @work(group="actions", exit_on_error=False)
    async def action_remove(self) -> None:
        selected = self.selected()
        if selected is None:
            self._fail("select a repository first")
            return
        try:
            counts = await self.backend.removal(str(selected.repository_id), dry_run=True)
        except Exception as exc:
            self._fail(f"remove failed: {describe(exc)}")
            return
        if not await self.push_screen_wait(ConfirmRemove(counts)):
            self.log_event(f"remove {selected.repository} cancelled: nothing changed")
            return
        try:
            removed = await self.backend.removal(str(selected.repository_id), dry_run=False)
        except Exception as exc:
            self._fail(f"remove failed: {describe(exc)}")
            return
        self.log_event(f"removed {removed.repository}: {removed.describe()}", "yellow")
        if isinstance(self.screen, DetailScreen):
            self.screen.dismiss()
        self.poll()

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def _recover_plan_for(self, backfill_state_id: str, repository: str) -> None:
        plan = await self._plan()
        if plan is None:
            return
        mine = plan.only(UUID(backfill_state_id))
        self.log_event(
            f"recovery dry run for {repository}: {len(mine.chunks)} stuck chunk(s), "
            f"{len(mine.leases)} expired lease(s)"
        )
        # Live recovery runs over every repository, so it is offered from the main screen only.
        await self.push_screen_wait(RecoveryPlanScreen(mine, allow_live=False))

    def _reload(self) -> None:
        """Poll now (the poll re-reads the detail screen when one is open)."""
        self.poll()

    @work(group="actions", exit_on_error=False)
    async def action_toggle_pause(self) -> None:
        selected = self.selected()
        if selected is None:
            self._fail("select a repository first")
            return
        resume = selected.status == "paused"
        try:
            if resume:
                changed = await self.backend.resume(str(selected.backfill_state_id))
            else:
                changed = await self.backend.pause(str(selected.backfill_state_id))
        except Exception as exc:
            self._fail(f"pause/resume failed: {describe(exc)}")
            return
        verb = "resumed" if resume else "paused"
        if changed:
            self.log_event(f"{selected.repository}: {verb}", "yellow")
        else:
            self._fail(f"{selected.repository} cannot be {verb} (it is {selected.status})")
        self._reload()

    def _fail(self, message: str) -> None:
        self.log_event(message, "red")
        self.notify(message, severity="error", markup=False)  # errors quote names, input

    # The terminal going away -------------------------------------------------------------

    def _watch_terminal(self) -> None:
        """Exit on SIGHUP, or when stdin stops being a terminal (an SSH drop can leave the
        process without a hangup signal, and Textual installs no SIGHUP handler)."""
        with suppress(NotImplementedError, RuntimeError):  # not the main thread / platform
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.exit)

        def check() -> None:
            try:
                gone = not os.isatty(sys.__stdin__.fileno()) if sys.__stdin__ else True
            except (OSError, ValueError):
                gone = True
            if gone:
                self.exit(return_code=1)

        self.set_interval(5, check)
