"""The detail screen's chunk table and the full error of the chunk under the cursor."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from console.columns import ColumnSpec
from console.format import clock, format_duration
from core.store.models import BackfillDetail, ChunkRecord


def chunk_columns(detail: BackfillDetail) -> tuple[ColumnSpec, ...]:
    """The chunk table's columns; `Kind` only when the schema gives chunks a kind."""
    kind = any(c.kind is not None for c in detail.chunks) or "kind" in detail.state
    return tuple(
        spec
        for spec in (
            ColumnSpec("#", 0),
            ColumnSpec("Kind", 5),
            ColumnSpec("Status", 1),
            ColumnSpec("PRs", 2),
            ColumnSpec("Started", 3),
            ColumnSpec("Duration", 4),
            ColumnSpec("Worker", 6, least=8, most=24, flexible=True),
            ColumnSpec("Error", 7, least=10, flexible=True),
        )
        if spec.name != "Kind" or kind
    )


_CHUNK_STYLE = {"completed": "green", "failed": "bold red", "processing": "cyan"}


def chunk_cells(c: ChunkRecord, now: datetime, *, kind: bool) -> tuple[Text | str, ...]:
    ended = c.ended_at()
    duration = format_duration(((ended or now) - c.started_at).total_seconds())
    status = Text(
        c.status + (" (recovered)" if c.recovered else ""), _CHUNK_STYLE.get(c.status, "")
    )
    cells: list[Text | str] = [f"#{c.chunk_number}"]
    if kind:
        cells.append(c.kind or "—")
    cells += [
        status,
        "—" if c.pr_count is None else f"{c.pr_count:,}",
        clock(c.started_at),
        duration if ended else f"{duration}…",
        Text(c.worker_id or "—"),
        Text(" ".join((c.error or "").split()), style="red"),
    ]
    return tuple(cells)


def chunk_rows(detail: BackfillDetail) -> dict[str, tuple[Text | str, ...]]:
    kind = any(spec.name == "Kind" for spec in chunk_columns(detail))
    return {
        str(c.chunk_number): chunk_cells(c, detail.observed_at, kind=kind) for c in detail.chunks
    }


def chunk_error(detail: BackfillDetail, chunk_number: int | None) -> Text:
    """The full error of a chunk (the highlighted one, else the newest failed one)."""
    chunks = {c.chunk_number: c for c in detail.chunks}
    chunk = chunks.get(chunk_number) if chunk_number is not None else None
    if chunk is None or chunk.error is None:
        chunk = next((c for c in detail.chunks if c.error), chunk)
    if chunk is None or chunk.error is None:
        return Text("No chunk error.", style="dim")
    text = Text(f"Chunk #{chunk.chunk_number} error:\n", style="bold")
    text.append(chunk.error, style="red")
    return text
