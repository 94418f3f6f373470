"""What every benchmark needs: a migrated scratch database and one way to report figures."""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.backfill.runtime import tune_garbage_collector
from core.store import migrations


@contextmanager
def admin_url() -> Iterator[str]:
    """BENCH_DATABASE_URL (a server where databases may be created), else an embedded one."""
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        yield external
        return
    from core.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg")
    try:
        yield server.acquire()
    finally:
        server.destroy()


@contextmanager
def worker_gc() -> Iterator[None]:
    """The garbage collector as a CLI worker process sets it, for a worker run in-process."""
    previous = gc.get_threshold()
    tune_garbage_collector()
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A freshly migrated database, dropped afterwards."""
    with admin_url() as admin:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_conninfo(admin, dbname=name)
        try:
            with psycopg.connect(url) as conn:
                migrations.apply(conn)
            yield url
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def report(name: str, figures: dict[str, Any], human: str) -> None:
    """One JSON line (for bench/run.py) and one line for people."""
    print(json.dumps({"benchmark": name, **figures}))
    print(human)


def figure(
    benchmark: str,
    name: str,
    value: float,
    unit: str,
    reference: str,
    reference_value: float,
    aim: str,
    met: bool | None,
    note: str = "",
) -> dict[str, Any]:
    """One row of bench/results.md: a figure, its reference measured in the same run, and the
    ratio between them (value / reference_value)."""
    ratio = value / reference_value if reference_value else None
    return {
        "benchmark": benchmark,
        "figure": name,
        "value": round(value, 3),
        "unit": unit,
        "reference": reference,
        "reference_value": round(reference_value, 3),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "aim": aim,
        "met": met,
        "note": note,
    }


def print_figures(rows: list[dict[str, Any]]) -> None:
    """What a benchmark prints when run on its own: one JSON line per figure."""
    for row in rows:
        print(json.dumps(row))
