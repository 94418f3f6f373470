"""Table columns that give way on a narrow terminal: which fit, how wide, cut with an ellipsis.

Plain data and rich Text, no widgets: `console.widgets.KeyedTable` lays its columns out with
these, and each panel declares its own columns as `ColumnSpec`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text


@dataclass(frozen=True)
class ColumnSpec:
    """A table column: shown when its turn (`priority`, 0 first) comes and it fits; never
    wider than `most`. A fixed-format column (a count, a rate, a duration, a time: the
    default) is shown whole or not at all; a `flexible` one (free text: a name, a status)
    may be cut with an ellipsis (the detail screen has it whole), never below `least`, and
    keeps up to `enough` cells before lower priorities join."""

    name: str
    priority: int = 0
    least: int = 4
    most: int | None = None
    flexible: bool = False
    enough: int | None = None


def layout_columns(
    specs: Sequence[ColumnSpec], natural: dict[str, int], available: int, padding: int = 2
) -> dict[str, int]:
    """Column widths for `available` cells, in display order. The one rule: columns join by
    priority while they fit (the first that does not ends the list); a fixed-format column
    joins at its full width (its widest cell, `natural`, up to `most`), a flexible one at
    `least`, holding `enough` for itself against the columns after it; then the flexible
    columns share what is left, by turns, up to their widest cell. So an ETA, a lag or a
    count is never cut, and a name or a status gives way only to what has to fit."""

    def whole(spec: ColumnSpec) -> int:
        width = natural.get(spec.name, spec.least)
        return width if spec.most is None else min(width, spec.most)

    def kept(spec: ColumnSpec) -> int:
        return min(whole(spec), max(spec.least, spec.enough or spec.least))

    widths: dict[str, int] = {}
    left = available
    held = 0  # cells the flexible columns in hold beyond their `least`
    for spec in sorted(specs, key=lambda spec: spec.priority):
        need = min(spec.least, whole(spec)) if spec.flexible else whole(spec)
        if left - held < need + padding:
            break  # what is left goes to the columns shown, not to a lower priority
        widths[spec.name] = need
        left -= need + padding
        if spec.flexible:
            held += max(0, kept(spec) - need)
    flexible = sorted(
        (spec for spec in specs if spec.flexible and spec.name in widths),
        key=lambda spec: spec.priority,
    )
    for spec in flexible:  # first each one's `enough`
        grow = max(0, min(left, kept(spec) - widths[spec.name]))
        widths[spec.name] += grow
        left -= grow
    while left > 0:  # then the rest, a cell each by turns
        wanting = [spec for spec in flexible if widths[spec.name] < whole(spec)]
        if not wanting:
            break
        for spec in wanting[:left]:
            widths[spec.name] += 1
            left -= 1
    return {spec.name: widths[spec.name] for spec in specs if spec.name in widths}


def width_of(cell: Text | str) -> int:
    """Terminal cells `cell` takes; an ASCII string's length without rich's measuring (what
    a thousand rows' cells mostly are)."""
    text = cell if isinstance(cell, str) else cell.plain
    return len(text) if text.isascii() else cell_len(text)


def fit(cell: Text, width: int) -> Text:
    """`cell` cut to `width` cells, ending with an ellipsis when cut."""
    if cell.cell_len <= width:
        return cell
    cut = cell.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut
