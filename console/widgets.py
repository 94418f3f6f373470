"""Widgets that take a whole view and change only what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from console.columns import ColumnSpec, fit, layout_columns

Cells = tuple[Text | str, ...]
CELL_PADDING = 2  # DataTable pads each cell by one column on either side
SCROLLBAR = 2  # kept free so a vertical scrollbar never pushes the table sideways


class KeyedTable(DataTable[Text]):
    """A DataTable updated in place by row key, that never scrolls sideways.

    `clear()` would reset the cursor and the scroll every refresh; instead rows are added,
    removed and changed cell by cell, so what the user is looking at never jumps. Columns get
    widths by priority (`ColumnSpec`): the ones that do not fit are left out, long text ends
    with an ellipsis; the layout is recomputed only when the width or the widest cell changes.
    """

    def __init__(self, columns: Sequence[str | ColumnSpec], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.specs = tuple(c if isinstance(c, ColumnSpec) else ColumnSpec(c) for c in columns)
        self._column_names = tuple(s.name for s in self.specs)
        self._shown: dict[str, tuple[Text, ...]] = {}
        self._given: dict[str, Cells] = {}  # each row's cells as last given to `apply`
        self._widest = {s.name: cell_len(s.name) for s in self.specs}
        self.widths: dict[str, int] = {}

    def on_mount(self) -> None:
        self._relayout(force=True)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def _available(self) -> int:
        return max(0, self.size.width - SCROLLBAR)

    def _relayout(self, *, force: bool = False) -> None:
        widths = layout_columns(self.specs, self._widest, self._available(), CELL_PADDING)
        if widths == self.widths and not force:
            return
        selected = self.selected_key
        self.widths = widths
        self.clear(columns=True)
        for name, width in widths.items():
            self.add_column(name, key=name, width=width)
        for key, cells in self._shown.items():
            self.add_row(*self._visible(cells), key=key)
        self.select(selected)

    def _visible(self, cells: tuple[Text, ...]) -> list[Text]:
        return [
            fit(cell, self.widths[name])
            for name, cell in zip(self._column_names, cells, strict=True)
            if name in self.widths
        ]

    def apply(self, rows: Mapping[str, Cells]) -> None:
        """Show exactly `rows` (key -> cells). A row given the same cells as last time (the
        same tuple, as `build_view` reuses for an unchanged row, or equal ones) costs one
        comparison: nothing is converted, measured or redrawn."""
        for key in [key for key in self._shown if key not in rows]:
            self.remove_row(key)
            del self._shown[key]
            self._given.pop(key, None)
        widened = False
        for key, raw in rows.items():
            given = self._given.get(key)
            self._given[key] = raw  # next time the same tuple is found by identity
            if given is raw or given == raw:
                continue
            # Text, never markup: cells carry database text.
            cells = tuple(Text(c) if isinstance(c, str) else c for c in raw)
            for name, cell in zip(self._column_names, cells, strict=True):
                if cell.cell_len > self._widest[name]:
                    self._widest[name] = cell.cell_len
                    widened = True
            shown = self._shown.get(key)
            self._shown[key] = cells
            if widened:
                continue  # the relayout below adds every row at its new width
            if shown is None:
                self.add_row(*self._visible(cells), key=key)
            else:
                for name, old, new in zip(self._column_names, shown, cells, strict=True):
                    if old != new and name in self.widths:
                        self.update_cell(key, name, fit(new, self.widths[name]))
        if widened:
            self._relayout(force=True)

    def order(self, keys: Sequence[str]) -> None:
        """Rows in this order (a sort); the cursor stays on the row it was on."""
        wanted = [key for key in keys if key in self._shown]
        placed = set(wanted)  # once: a set per row made this quadratic at 1,000 rows
        wanted += [key for key in self._shown if key not in placed]
        if wanted == self._row_keys():
            return
        selected = self.selected_key
        # What DataTable.sort does, by row key (its public key function sees only the cells,
        # which are truncated here); textual is pinned exactly, so this private map is stable.
        self._row_locations = TwoWayDict({RowKey(key): i for i, key in enumerate(wanted)})
        self._update_count += 1
        self.refresh()
        self.select(selected)

    def select(self, key: str | None) -> None:
        if key is not None and key in self._shown:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    def reset(self) -> None:
        """Forget every row (a new filter): the next `apply` rebuilds the table once."""
        self.clear()
        self._shown.clear()
        self._given.clear()

    def row_text(self, key: str) -> list[str]:
        """The full (untruncated) text of a row's cells, for tests and scripts."""
        return [cell.plain for cell in self._shown[key]]

    def _row_keys(self) -> list[str | None]:
        """Row keys top to bottom, read from the rows alone.

        Never through a cell (`coordinate_to_cell_key`): a folded (`display: none`) or very
        narrow table lays out no columns yet keeps its rows, and a cell of a table without
        columns does not exist (Textual raises `CellDoesNotExist`).
        """
        return [row.key.value for row in self.ordered_rows]

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor; None when there are no rows.

        Works with zero columns (a folded table), for the reason `_row_keys` gives.
        """
        rows = self.ordered_rows
        row = self.cursor_row
        return rows[row].key.value if 0 <= row < len(rows) else None
