"""Driving the console under Textual's pilot on a real database: register, refresh, settle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from textual.pilot import Pilot

from console.app import BackfillConsole
from console.widgets import KeyedTable

SIZE = (120, 40)


async def settle(app: BackfillConsole, pilot: Pilot[Any], group: str | None = None) -> None:
    """Let workers of a group (all but modal-waiting ones by default) finish, then render."""
    for _ in range(3):
        pending = [w for w in app.workers if group is None or w.group == group]
        waits = (w.wait() for w in pending if w.group != "actions" or group)
        await asyncio.gather(*waits, return_exceptions=True)
        await pilot.pause()


async def refresh(app: BackfillConsole, pilot: Pilot[Any]) -> None:
    app.poll()
    await settle(app, pilot, "poll")


def rows(database_url: str, query: str, *params: object) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def backfills(database_url: str) -> dict[str, str]:
    return {
        r["repo"]: r["status"]
        for r in rows(
            database_url,
            "SELECT r.owner || '/' || r.name AS repo, s.status FROM progressive_backfill_state s"
            " JOIN repositories r ON r.id = s.repository_id",
        )
    }


def register(database_url: str, *repos: str, total: int = 100) -> None:
    with psycopg.connect(database_url) as conn:
        for repo in repos:
            owner, name = repo.split("/")
            conn.execute("SELECT register_backfill(%s, %s, %s, NULL)", (owner, name, total))


def make_stuck_chunk(database_url: str, repo: str = "acme/stuck") -> None:
    """A chunk left 'processing' by a worker that died, aged by moving its start back in the
    database (never by sleeping)."""
    register(database_url, repo)
    owner, name = repo.split("/")
    with psycopg.connect(database_url) as conn:
        state = conn.execute(
            "SELECT s.id FROM progressive_backfill_state s JOIN repositories r"
            " ON r.id = s.repository_id WHERE r.owner = %s AND r.name = %s",
            (owner, name),
        ).fetchone()
        assert state is not None
        lease = conn.execute(
            "SELECT claim_token FROM claim_backfill('dead-worker', 60, ARRAY[%s]::uuid[])",
            (state[0],),
        ).fetchone()
        assert lease is not None
        conn.execute("SELECT * FROM start_chunk(%s, %s, 'dead-worker')", (state[0], lease[0]))
        conn.execute(
            "UPDATE backfill_chunks SET started_at = now() - interval '2 hours'"
            " WHERE backfill_state_id = %s",
            (state[0],),
        )
        conn.execute(
            "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 hour'"
            " WHERE id = %s",
            (state[0],),
        )


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


LONG_ERROR = "GraphQL error: " + "the server said no; " * 20 + "THE END"


def fail(database_url: str, repo: str) -> None:
    """A backfill with one failed chunk (a long error) that then failed itself."""
    owner, name = repo.split("/")
    with psycopg.connect(database_url) as conn:
        (state,) = conn.execute(
            "SELECT s.id FROM progressive_backfill_state s JOIN repositories r"
            " ON r.id = s.repository_id WHERE r.owner = %s AND r.name = %s",
            (owner, name),
        ).fetchone()
        (token,) = conn.execute(
            "SELECT claim_token FROM claim_backfill('w-test', 60, ARRAY[%s]::uuid[])", (state,)
        ).fetchone()
        chunk = conn.execute(
            "SELECT id, claim_token FROM start_chunk(%s, %s, 'w-test')", (state, token)
        ).fetchone()
        conn.execute("SELECT fail_chunk(%s, %s, %s, 0)", (chunk[0], chunk[1], LONG_ERROR))
        conn.execute("SELECT fail_backfill(%s, %s, 'GitHub refused the token')", (state, token))


async def select(app, pilot, repo: str) -> None:  # type: ignore[no-untyped-def]
    table = app.query_one("#repositories", KeyedTable)
    for _ in range(table.row_count):
        if table.row_text(table.selected_key)[0] == repo:
            return
        await pilot.press("down")
    raise AssertionError(f"{repo} not in the table")
