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
    """A table column: shown when its turn (`priority`, 0 first) comes and `least` cells fit;
    never wider than `most`. Long text ends with an ellipsis (the detail screen has it whole)."""

    name: str
    priority: int = 0
    least: int = 4
    most: int | None = None


def layout_columns(
    specs: Sequence[ColumnSpec], natural: dict[str, int], available: int, padding: int = 2
) -> dict[str, int]:
    """Column widths for `available` cells, in display order: columns join by priority while
    their least width fits (the first that does not ends the list), then grow by priority
    towards their widest cell (`natural`), bounded ones first, so free text (a status, an
    error) takes what is left."""
    widths: dict[str, int] = {}
    left = available
    ranked = sorted(specs, key=lambda spec: spec.priority)
    for spec in ranked:
        need = min(spec.least, natural.get(spec.name, spec.least))
        if left < need + padding:
            break  # what is left goes to the columns shown, not to a lower priority
        widths[spec.name] = need
        left -= need + padding
    for spec in sorted(ranked, key=lambda spec: spec.most is None):
        if spec.name not in widths:
            continue
        target = natural.get(spec.name, spec.least)
        if spec.most is not None:
            target = min(target, spec.most)
        grow = max(0, min(left, target - widths[spec.name]))
        widths[spec.name] += grow
        left -= grow
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
