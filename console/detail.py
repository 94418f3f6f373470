"""One repository in full: its state, its lease, its recent chunks with their errors.

Attributes down, messages up: the screen never reads the database nor reaches into the app.
On opening it asks for its first read (`ReadWanted`); the app answers it then and with every
poll after (one batch of reads per refresh; the screen has no timer of its own) by calling
`answered` with the backfill's detail and the snapshot it belongs with. What the screen needs
done it asks by message: the dry run limited to its repository (`RecoveryPlanWanted`), and
the news that its backfill is gone (`Gone`: the app logs it and closes the screen). The
actions on the selection (pause, retry, remove) are the app's, acting on the repository on
screen. Escape goes back.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.keys import DETAIL
from console.panels.detail_chunks import chunk_columns, chunk_error, chunk_rows
from console.panels.detail_state import detail_summary
from console.widgets import KeyedTable
from core.monitoring import StatsReport
from core.store.models import BackfillDetail


class DetailScreen(Screen[None]):
    BINDINGS = [command.binding() for command in DETAIL]

    class ReadWanted(Message):
        """The screen opened: read its backfill now rather than at the next poll."""

        def __init__(self, backfill_state_id: str) -> None:
            super().__init__()
            self.backfill_state_id = backfill_state_id

    class RecoveryPlanWanted(Message):
        """A recovery dry run limited to this screen's backfill."""

        def __init__(self, backfill_state_id: str, repository: str) -> None:
            super().__init__()
            self.backfill_state_id = backfill_state_id
            self.repository = repository

    class Gone(Message):
        """The backfill is no longer in the database (removed elsewhere): the screen is done."""

        def __init__(self, screen: DetailScreen) -> None:
            super().__init__()
            self.screen = screen

        @property
        def control(self) -> DetailScreen:
            return self.screen

    def __init__(self, backfill_state_id: str, repository: str) -> None:
        super().__init__()
        self.backfill_state_id = backfill_state_id
        self.repository = repository
        self.detail: BackfillDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.repository}: reading…", id="detail-state", classes="panel")
        with VerticalScroll(id="detail-error", classes="panel"):
            yield Static("", id="detail-error-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-state").border_title = self.repository
        self.query_one("#detail-error").border_title = "Chunk error (full text)"
        self.post_message(self.ReadWanted(self.backfill_state_id))

    def answered(
        self, detail: BackfillDetail | Exception | None, report: StatsReport | None
    ) -> None:
        """Show a read of this backfill: its detail, with its row and freshness from `report`
        (the snapshot read with it); None: it was removed (back to the main screen); a failed
        read keeps the last view and says why."""
        if isinstance(detail, Exception):
            self.notify(
                f"could not read {self.repository}: {detail}", severity="error", markup=False
            )
            return
        if detail is None:
            if self.is_current:  # not already leaving (remove dismisses it itself)
                self.post_message(self.Gone(self))
            return
        self.show(detail, report)

    def show(self, detail: BackfillDetail, report: StatsReport | None) -> None:
        self.detail = detail
        progress = None
        freshness = None
        if report is not None:
            progress = next(
                (p for p in report.progress if str(p.backfill_state_id) == self.backfill_state_id),
                None,
            )
            freshness = report.freshness_of(detail.backfill_state_id)
        self.query_one("#detail-state", Static).update(detail_summary(detail, progress, freshness))
        if not self.query("#detail-chunks"):
            table = KeyedTable(chunk_columns(detail), id="detail-chunks", classes="panel")
            table.border_title = "Recent chunks (newest first)"
            self.mount(table, before=self.query_one("#detail-error"))
            table.focus()
            self.call_after_refresh(self._fill, table)
        else:
            self._fill(self.query_one("#detail-chunks", KeyedTable))

    def _fill(self, table: KeyedTable) -> None:
        if self.detail is None:
            return
        table.apply(chunk_rows(self.detail))
        self._show_error(table.selected_key)

    def _show_error(self, key: str | None) -> None:
        if self.detail is None:
            return
        number = int(key) if key else None
        self.query_one("#detail-error-text", Static).update(chunk_error(self.detail, number))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_error(event.row_key.value if event.row_key else None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # Enter on a chunk shows its error, it does not open another screen
        self._show_error(event.row_key.value if event.row_key else None)

    def chunks_text(self) -> list[list[str]]:
        """Every chunk row's full text (for tests and scripts)."""
        if not self.query("#detail-chunks"):
            return []
        table = self.query_one("#detail-chunks", KeyedTable)
        return [table.row_text(key.value) for key in table.rows if key.value]

    def action_back(self) -> None:
        self.dismiss()

    def action_recover_plan_here(self) -> None:
        self.post_message(self.RecoveryPlanWanted(self.backfill_state_id, self.repository))

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        return True
