"""The workers panel: each worker alive or gone, what it is doing, its last heartbeat."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from console.columns import ColumnSpec
from console.format import format_duration
from core.store.models import WorkerRecord

WORKER_COLUMNS = (
    ColumnSpec("Worker", 0, least=10, most=32, flexible=True),
    ColumnSpec("Doing", 1, least=10, flexible=True),
    ColumnSpec("Seen", 2),
)


def worker_cells(w: WorkerRecord, now: datetime) -> tuple[Text | str, ...]:
    name = Text("● " if w.alive else "○ ", style="green" if w.alive else "dim")
    name.append(w.id if w.host in w.id else f"{w.id}@{w.host}", style="" if w.alive else "dim")
    if not w.alive:
        doing = Text(w.status if w.status == "stopped" else "gone (no heartbeat)", style="dim")
    elif w.status == "waiting":
        doing = Text("budget wait", style="yellow")
    else:
        doing = Text(w.repository or w.detail or w.status)
    age = format_duration((now - w.heartbeat_at).total_seconds())
    return name, doing, f"{age} ago"
