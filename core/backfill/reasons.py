"""How an error is worded where users read it (a chunk's reason, a log line), and whether it
is an outage (one line) or a bug (a traceback)."""

from __future__ import annotations

from core.errors import DatabaseBusy, StoreUnavailable
from core.store.postgres import connection_dropped


def outage(exc: BaseException) -> bool:
    """Whether `exc` is the database away for a moment (a restart, a failover, a dropped
    connection; Supabase's REST API unreachable) rather than a bug. Logged on one line: a
    traceback is for bugs (`sync` and `backfill` print warnings on the user's terminal)."""
    return isinstance(exc, StoreUnavailable | DatabaseBusy) or connection_dropped(exc)


def first_line(exc: BaseException) -> str:
    """The error's own words without the server's CONTEXT lines (a statement's whole SQL)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def store_failed(exc: BaseException) -> str:
    """A chunk's reason when its page could not be stored."""
    return f"could not store the page: {type(exc).__name__}: {first_line(exc)}"[:1000]
