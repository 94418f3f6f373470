"""Widgets that take a whole view and change only what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text
from textual.widgets import DataTable

Cells = tuple[Text | str, ...]


class KeyedTable(DataTable[Text | str]):
    """A DataTable updated in place by row key.

    `clear()` would reset the cursor and the scroll every refresh; instead rows are added,
    removed and changed cell by cell, so what the user is looking at never jumps.
    """

    def __init__(self, columns: Sequence[str], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._column_names = tuple(columns)
        self._shown: dict[str, Cells] = {}
        self._widest = dict.fromkeys(self._column_names, 0)

    def on_mount(self) -> None:
        for name in self._column_names:
            self.add_column(name, key=name)

    def apply(self, rows: Mapping[str, Cells]) -> None:
        for key in [key for key in self._shown if key not in rows]:
            self.remove_row(key)
            del self._shown[key]
        for key, raw in rows.items():
            # A plain str cell is read as markup by DataTable; cells carry database text.
            cells = tuple(escape(c) if isinstance(c, str) else c for c in raw)
            shown = self._shown.get(key)
            if shown is None:
                self.add_row(*cells, key=key)
                for column, cell in zip(self._column_names, cells, strict=True):
                    self._widest[column] = max(self._widest[column], cell_len(str(cell)))
            else:
                for column, old, new in zip(self._column_names, shown, cells, strict=True):
                    if old != new:
                        self.update_cell(key, column, new, update_width=self._widens(column, new))
            self._shown[key] = cells

    def _widens(self, column: str, cell: Text | str) -> bool:
        """Whether a column must grow for this cell. Re-measuring a column reads every row,
        so it happens only when a cell is wider than any seen (a handful of times)."""
        width = cell_len(str(cell))
        if width <= self._widest[column]:
            return False
        self._widest[column] = width
        return True

    def reset(self) -> None:
        """Forget every row (a new filter): the next `apply` rebuilds the table once."""
        self.clear()
        self._shown.clear()
        self._widest = dict.fromkeys(self._column_names, 0)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
