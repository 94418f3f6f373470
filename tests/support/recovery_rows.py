"""Arranging chunks for recovery tests through the store API, and moving time in the database."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from core.store.models import Chunk, Lease
from core.store.store import Store
from tests.support.store_rows import pull_request


async def stuck_chunk(
    store: Store,
    db: psycopg.Connection,
    repo: str,
    *,
    minutes: int,
    expected: int | None,
    stored: int = 0,
    alive: bool = False,
) -> tuple[Lease, Chunk]:
    """A chunk of `octo/<repo>` left 'processing' `minutes` ago by a worker that died after
    recording `expected` PR numbers (None: it never recorded any), of which `stored` were
    committed by a later chunk of the same backfill. The dead worker's lease has run out;
    `alive`: the worker is alive and still renews it (so the chunk is not stuck)."""
    reg = await store.register_backfill("octo", repo, max(expected or 0, 1) + 10)
    lease = await store.claim_backfill(f"w-{repo}", lease_seconds=300, only=[reg.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, f"w-{repo}")
    assert chunk is not None
    if expected is not None:
        assert await store.record_chunk_prs(chunk, list(range(1, expected + 1)))
    if stored:
        later = await store.start_chunk(lease, f"w-{repo}")
        assert later is not None
        result = await store.commit_chunk(
            later,
            [pull_request(n, prefix=repo) for n in range(1, stored + 1)],
            cursor_after=f"{repo}-after",
            has_next_page=True,
            total_prs=(expected or 0) + 10,
        )
        assert result.committed, result
    age(db, chunk.id, minutes=minutes)
    if not alive:
        expire_lease(db, lease)  # the worker died: nobody renews it
    return lease, chunk


def age(db: psycopg.Connection, chunk_id: UUID, *, minutes: int) -> None:
    """Move a chunk's start back on the database clock instead of sleeping."""
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - make_interval(mins => %s) WHERE id = %s",
        (minutes, chunk_id),
    )


def expire_lease(db: psycopg.Connection, lease: Lease) -> None:
    """Let a lease run out on the database clock, as when its worker stopped renewing it."""
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second' "
        "WHERE id = %s AND claim_token = %s",
        (lease.backfill_state_id, lease.claim_token),
    )


def chunk_row(db: psycopg.Connection, chunk_id: UUID) -> dict[str, Any]:
    row = db.execute("SELECT * FROM backfill_chunks WHERE id = %s", (chunk_id,)).fetchone()
    assert row is not None
    return row


def dump(db: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in public (system columns included: xmin shows any write)."""
    tables = [
        r["tablename"]
        for r in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    ]
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.cursor(row_factory=tuple_row) as cur:
        for table in tables:
            cur.execute(f'SELECT xmin::text, t.* FROM "{table}" t ORDER BY 2, 3')
            out[table] = cur.fetchall()
    return out
