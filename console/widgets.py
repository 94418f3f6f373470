"""Widgets that take a whole view and change only what changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.app import ComposeResult
from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable, Footer
from textual.widgets._footer import FooterKey
from textual.widgets.data_table import ColumnKey, RowKey

from console.columns import ColumnSpec, fit, layout_columns, width_of

Cells = tuple[Text | str, ...]
SegmentLines = list[list[Segment]]
CELL_PADDING = 2  # DataTable pads each cell by one column on either side
SCROLLBAR = 2  # kept free so a vertical scrollbar never pushes the table sideways


class KeyedTable(DataTable[Text]):
    """A DataTable updated in place by row key, that never scrolls sideways, and that
    converts and writes only the rows on screen.

    `clear()` would reset the cursor and the scroll every refresh; instead rows are added,
    removed and changed by key, so what the user is looking at never jumps. A changed row is
    only remembered (`_stale`) until it is drawn: with a thousand repositories about forty are
    on screen, so a refresh that changes every row writes forty rows' cells and redraws once,
    instead of a thousand rows and a redraw per cell (`update_cell`); a row scrolled into
    view is written just before it is drawn (`render_lines`). Columns get widths by priority
    (`ColumnSpec`): the ones that do not fit are left out, long text ends with an ellipsis;
    the layout is recomputed only when the width or the widest cell changes (every changed
    row is measured, seen or not, so the columns are the same whatever is scrolled to).
    """

    def __init__(self, columns: Sequence[str | ColumnSpec], **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        # A column given by name alone is free text: cut with an ellipsis, not left out.
        self.specs = tuple(
            c if isinstance(c, ColumnSpec) else ColumnSpec(c, flexible=True) for c in columns
        )
        self._column_names = tuple(s.name for s in self.specs)
        self._column_keys = tuple(ColumnKey(name) for name in self._column_names)
        self._shown: dict[str, tuple[Text, ...]] = {}  # each row's cells as the table has them
        self._given: dict[str, Cells] = {}  # each row's cells as last given to `apply`
        self._stale: set[str] = set()  # rows whose given cells are not in the table yet
        self._drawn: LRUCache[tuple[object, ...], SegmentLines] = LRUCache(4096)
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
        for key in self._stale:
            self._shown[key] = _texts(self._given[key])
        self._stale.clear()
        for key, cells in self._shown.items():
            self.add_row(*self._visible(cells), key=key)
        self.select(selected)

    def _visible(self, cells: tuple[Text, ...]) -> list[Text]:
        return [
            fit(cell, self.widths[name])
            for name, cell in zip(self._column_names, cells, strict=True)
            if name in self.widths
        ]

    def _measure(self, cells: Cells) -> bool:
        """Widen the widest cell seen per column by `cells`; True when one widened. A column
        already as wide as it may grow (`most`) is not measured again."""
        widened = False
        for spec, cell in zip(self.specs, cells, strict=True):
            widest = self._widest[spec.name]
            if spec.most is not None and widest >= spec.most:
                continue
            width = width_of(cell)
            if width > widest:
                self._widest[spec.name] = width
                widened = True
        return widened

    def apply(self, rows: Mapping[str, Cells], widest: Sequence[int] | None = None) -> None:
        """Show exactly `rows` (key -> cells). A row given the same cells as last time (the
        same tuple, as `build_view` reuses for an unchanged row, or equal ones) costs one
        comparison; a changed row off screen costs its measuring (none when `widest`, each
        column's widest cell in `rows`, comes with them), and is written when it scrolls into
        view."""
        for key in [key for key in self._shown if key not in rows]:
            self.remove_row(key)
            del self._shown[key]
            self._given.pop(key, None)
            self._stale.discard(key)
        widened = False
        if widest:
            for name, width in zip(self._column_names, widest, strict=True):
                if width > self._widest[name]:
                    self._widest[name] = width
                    widened = True
        changed = False
        for key, raw in rows.items():
            given = self._given.get(key)
            if given is raw:
                continue
            self._given[key] = raw  # next time the same tuple is found by identity
            if given is not None and given == raw:
                continue
            if widest is None:
                widened |= self._measure(raw)
            if key in self._shown:
                self._stale.add(key)
                changed = True
            elif not widened:  # a new row (after a widening, the relayout adds it)
                cells = _texts(raw)
                self._shown[key] = cells
                self.add_row(*self._visible(cells), key=key)
            else:
                self._shown[key] = _texts(raw)
        if widened:
            self._relayout(force=True)
        elif changed and self._stale_in(self._rows_on_screen()):
            self.refresh()

    def _rows_on_screen(self) -> range:
        """Row indices the table may be drawing now (a few more at most)."""
        top = int(self.scroll_y)
        return range(top, top + self.size.height)

    def _stale_in(self, indices: range) -> list[str]:
        stale = self._stale
        if not stale:
            return []
        keys = self._row_locations
        found = []
        for index in indices:
            row = keys.get_key(index)
            if row is not None and row.value in stale:
                found.append(row.value)
        return found

    def _write(self, keys: Sequence[str]) -> None:
        """Put the given cells of `keys` (stale rows) into the table, fitted to the columns."""
        columns = [
            (i, ColumnKey(name), self.widths[name])
            for i, name in enumerate(self._column_names)
            if name in self.widths
        ]
        for key in keys:
            cells = _texts(self._given[key])
            self._shown[key] = cells
            self._stale.discard(key)
            row = self._data[RowKey(key)]
            for i, column, width in columns:
                row[column] = fit(cells[i], width)
        if keys:
            self._update_count += 1  # DataTable's render caches are keyed by it

    def render_lines(self, crop: Region) -> list[Strip]:
        """Draw `crop`, writing first the stale rows it shows (and no others)."""
        header = self.header_height if self.show_header else 0
        top = int(self.scroll_y) + max(0, crop.y - header)
        self._write(self._stale_in(range(top, top + crop.height)))
        return super().render_lines(crop)

    def notify_style_update(self) -> None:
        """Styles changed (a theme, the CSS): every cell is drawn again, as DataTable's own
        caches are cleared."""
        self._drawn.clear()
        super().notify_style_update()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """A cell drawn again only when what it shows changed.

        DataTable keys its cell cache by a counter that every change to any cell moves, so a
        refresh that changed one cell of every row draws every cell on screen again (the
        most of a frame's time). Here a cell is keyed by what it draws: its place (the
        segments carry it, for the mouse), its text and styles, its width and the row's
        style, so the unchanged cells of changed rows are not drawn again."""
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key].get(column_key)
        if not isinstance(value, Text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_index,
            column_index,
            value.plain,
            tuple(value.spans),
            value.style,
            value.justify,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        lines = self._drawn.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._drawn[key] = lines
        return lines

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
        self._stale.clear()

    def row_text(self, key: str) -> list[str]:
        """The full (untruncated) text of a row's cells as last given, drawn or not, for
        tests and scripts."""
        return [cell.plain if isinstance(cell, Text) else cell for cell in self._given[key]]

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


def _texts(cells: Cells) -> tuple[Text, ...]:
    """Cells as Text, never markup: cells carry database text."""
    return tuple(Text(c) if isinstance(c, str) else c for c in cells)


class ConsoleFooter(Footer):
    """The footer, compact, without the palette's hint (ctrl+p is on the help screen), with
    the keys not meant for a narrow terminal marked (`-wide-only`: `Command.narrow` False)
    so that styles.tcss hides them under 110 columns: what stays fits 80 columns, and every
    key fits 120."""

    def __init__(self, wide_only: Iterable[str]) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self.wide_only = frozenset(wide_only)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in self.wide_only:
                widget.add_class("-wide-only")
            yield widget
