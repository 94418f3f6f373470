"""Modal screens: add repositories, the recovery plan, the LIVE confirmation, help; and the
event log's screen.

Destructive steps name their mode (DRY RUN / LIVE) and their targets, and start with the
focus on Cancel, so Enter alone never changes the database.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Footer, Input, Label, RichLog, Static

from console.format import format_duration
from console.keys import COMMANDS
from core.backfill.names import parse_repositories
from core.errors import BackfillError
from core.recovery import RecoveryReport
from core.store.models import RemovalCounts

MAX_LISTED = 50


class RepositoryNames(Validator):
    """The engine's own parser, so the modal accepts exactly what `add` accepts."""

    def validate(self, value: str) -> ValidationResult:
        names = value.replace(",", " ").split()
        if not names:
            return self.failure("type one or more OWNER/NAME")
        try:
            parse_repositories(names)
        except (BackfillError, ValueError) as exc:
            return self.failure(str(exc))
        return self.success()


class AddRepositoriesScreen(ModalScreen[list[str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Add repositories", classes="title")
            yield Static(
                "OWNER/NAME, separated by spaces or commas. Their backfill starts at once."
            )
            yield Input(
                placeholder="octocat/hello-world, torvalds/linux",
                validators=[RepositoryNames()],
                validate_on=["changed", "submitted"],
                id="names",
            )
            yield Static("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="add", variant="primary")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show(event.validation_result)

    def _show(self, result: ValidationResult | None) -> None:
        problem = "" if result is None or result.is_valid else result.failure_descriptions[0]
        self.query_one("#problem", Static).update(Text(problem, style="red"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        field = self.query_one("#names", Input)
        result = field.validate(field.value)
        self._show(result)
        if result is not None and result.is_valid:
            self.dismiss(field.value.replace(",", " ").split())

    def action_cancel(self) -> None:
        self.dismiss(None)


def plan_table(report: RecoveryReport) -> Table:
    table = Table(expand=True, box=None, header_style="bold")
    for column in ("Repository", "Chunk", "Worker", "Age", "Stored", "Decision"):
        table.add_column(column, no_wrap=column != "Decision")
    for chunk in report.chunks[:MAX_LISTED]:
        decision = Text(
            f"{chunk.decision} ({chunk.reason})",
            style="green" if chunk.decision == "completed" else "red",
        )
        table.add_row(  # Text: what the database says is never read as markup
            Text(chunk.repository),
            f"#{chunk.chunk_number}",
            Text(chunk.worker_id or "—"),
            format_duration(chunk.age_seconds),
            f"{chunk.stored}/{chunk.expected}",
            decision,
        )
    return table


def plan_summary(report: RecoveryReport) -> Text:
    text = Text()
    text.append(f"{len(report.chunks)} stuck chunk(s)", style="bold")
    text.append(
        f" (processing for over {report.stuck_minutes} min): "
        f"{report.to_complete} to mark completed, {report.to_fail} to mark failed\n"
    )
    text.append(f"{len(report.leases)} expired lease(s) to release")
    if report.leases:
        text.append(": " + ", ".join(lease.repository for lease in report.leases[:10]))
    text.append(
        f"\n{report.cleanup.eligible:,}{'+' if report.cleanup.eligible_at_least else ''} "
        "completed chunk(s) older than "
        f"{report.cleanup_days} days to delete"
    )
    if len(report.chunks) > MAX_LISTED:
        text.append(f"\n… and {len(report.chunks) - MAX_LISTED} more chunks", style="dim")
    return text


class PlanDialog(ModalScreen[bool]):
    """A recovery plan and its buttons; subclasses say which button means go ahead."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Close")]
    TITLE = ""
    TITLE_CLASSES = "title"
    CLASSES = "wide"
    FOCUS = ""

    def __init__(self, report: RecoveryReport) -> None:
        super().__init__()
        self.report = report

    def buttons(self) -> list[Button]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes=self.CLASSES):
            yield Label(self.TITLE, classes=self.TITLE_CLASSES)
            yield Static(plan_summary(self.report))
            with VerticalScroll(classes="plan"):
                yield Static(plan_table(self.report) if self.report.chunks else "No stuck chunks.")
            with Horizontal(classes="buttons"):
                yield from self.buttons()

    def on_mount(self) -> None:
        self.query_one(f"#{self.FOCUS}", Button).focus()  # never the destructive one


class RecoveryPlanScreen(PlanDialog):
    """The dry run's report; the go-ahead leads to the LIVE confirmation."""

    TITLE = "Recovery plan — DRY RUN: nothing was changed"
    FOCUS = "close"

    def __init__(self, report: RecoveryReport, *, allow_live: bool) -> None:
        super().__init__(report)
        self.allow_live = allow_live

    def buttons(self) -> list[Button]:
        buttons = [Button("Close", id="close")]
        if self.allow_live and (self.report.chunks or self.report.leases):
            buttons.append(Button("Run LIVE…", id="live", variant="warning"))
        return buttons

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "live")


class ConfirmLiveRecovery(PlanDialog):
    """Names LIVE and every chunk the run will touch; the focus starts on Cancel."""

    TITLE = "LIVE recovery: this writes to the database"
    TITLE_CLASSES = "title danger"
    CLASSES = "wide live"
    FOCUS = "cancel"

    @property
    def plan(self) -> RecoveryReport:
        return self.report

    def buttons(self) -> list[Button]:
        return [Button("Cancel", id="cancel"), Button("Run LIVE", id="confirm", variant="error")]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def __init__(self, keys: dict[str, str], *, readonly: bool) -> None:
        super().__init__()
        self.keys = keys
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("what")
        for command in COMMANDS:
            if self.readonly and command.control:
                continue
            where = " (details)" if command.screen == "detail" else ""
            table.add_row(self.keys.get(command.id, command.key), command.help + where)
        table.add_row("ctrl+p", "Command palette: every command by name")
        table.add_row("ctrl+c", "Quit at once, exit status 130 (as a shell reports Ctrl-C)")
        with Vertical(id="dialog", classes="wide"):
            yield Label("Keys", classes="title")
            yield Static(table, id="keys")
            yield Static(
                "Workers are separate processes: quitting the console or losing the SSH "
                "connection does not stop a backfill. Remap keys with --keys, e.g. "
                "--keys recover_live=R,quit=ctrl+q.",
                classes="note",
            )
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmRemove(ModalScreen[bool]):
    """Names the repository and counts what goes with it; the focus starts on Cancel."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, counts: RemovalCounts) -> None:
        super().__init__()
        self.counts = counts

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="live"):
            yield Label(
                Text(f"Remove {self.counts.repository}? LIVE: this deletes data"),
                classes="title danger",
            )
            yield Static(
                Text(
                    f"Deletes {self.counts.repository} and everything stored for it: "
                    f"{self.counts.describe()}. Contributors are shared and stay. "
                    "This cannot be undone."
                )
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(
                    Text(f"Remove {self.counts.repository}"), id="confirm", variant="error"
                )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")


class EventLogScreen(Screen[None]):
    """This session's whole event log (the demo's lines too), newest last, scrolled back with
    the arrows and Page Up/Down; `/` searches all of it: only lines containing the text, any
    case. New events are added as they come (`add`). Only the newest `SHOWN_AT_MOST` matching
    lines are drawn: a log is drawn line by line (wrapping each), so opening or searching
    10,000 events took seconds; the title says when older matches are left undrawn, and a
    search narrows to them."""

    SHOWN_AT_MOST = 2_000
    SEARCH_SETTLES = 0.15  # seconds after the last keystroke before the log is redrawn

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("e", "close", "Back"),
        Binding("slash", "search", "Search"),
    ]

    def __init__(self, lines: Iterable[Text], keep: int | None = None) -> None:
        """`lines`: the session's events so far, oldest first; `keep`: how many this screen
        holds at most as more come (the session's own bound), None for no bound."""
        super().__init__()
        self.lines: deque[Text] = deque(lines, maxlen=keep)
        self.wanted = ""
        self.matching = len(self.lines)  # lines containing `wanted`, kept as lines come
        self._redraw: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="log-title")
        # min_width: RichLog's default (78) would wrap wider than the log shows at 80 columns.
        yield RichLog(id="log", markup=False, wrap=True, max_lines=self.SHOWN_AT_MOST, min_width=20)
        yield Input(placeholder="search the log (Enter keeps it, Escape clears)", id="search")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self._show()
        self.query_one("#log", RichLog).focus()

    def _matches(self, line: Text) -> bool:
        return self.wanted in line.plain.lower()

    def _show(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        shown = [line for line in self.lines if self._matches(line)]
        self.matching = len(shown)
        for line in shown[-self.SHOWN_AT_MOST :]:
            log.write(line)
        self._title_only()

    def add(self, line: Text) -> None:
        """Append `line`; the view follows it only when it was at the newest line, so a
        reader scrolled back keeps their place while events come in."""
        if len(self.lines) == self.lines.maxlen and self._matches(self.lines[0]):
            self.matching -= 1  # the oldest line leaves the session's bound
        self.lines.append(line)
        if self._matches(line):
            self.matching += 1
            log = self.query_one("#log", RichLog)
            log.write(line, scroll_end=log.is_vertical_scroll_end)
        self._title_only()

    def _title_only(self) -> None:
        what = f"{self.matching:,} of {len(self.lines):,} events"
        if self.wanted:
            what += f" containing “{self.wanted}”"
        if self.matching > self.SHOWN_AT_MOST:
            what += f" (the newest {self.SHOWN_AT_MOST:,} shown; / narrows)"
        self.query_one("#log-title", Static).update(
            Text(f"Event log · {what} · Esc: back · /: search", style="bold")
        )

    def action_search(self) -> None:
        field = self.query_one("#search", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Redraw once typing settles, not at every keystroke (each redraw reads the whole
        session's log)."""
        self.wanted = event.value.strip().lower()
        if self._redraw is not None:
            self._redraw.stop()
        self._redraw = self.set_timer(self.SEARCH_SETTLES, self._show)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#log", RichLog).focus()

    def action_close(self) -> None:
        field = self.query_one("#search", Input)
        if field.has_focus:
            field.value = ""
            self.query_one("#log", RichLog).focus()
            return
        self.dismiss(None)
