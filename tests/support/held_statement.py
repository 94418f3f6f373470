"""A connection dropped mid-statement, every time: the first write to a table is held in the
database (a trigger's pg_sleep) and its backend is ended there, as a restart, a failover or
pg_terminate_backend would end it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql


def hold_first_write(db: psycopg.Connection, table: str, events: str = "INSERT OR UPDATE") -> None:
    """The first row written to `table` (by `events`) sleeps in the database. A sequence
    counts the writes: its count survives the rollback of the ended transaction, so the next
    try goes through."""
    db.execute(
        """
        CREATE SEQUENCE held_once;
        CREATE FUNCTION held_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('held_once') = 1 THEN
                PERFORM pg_sleep(30);
            END IF;
            RETURN NEW;
        END $$;
        """
    )
    db.execute(
        sql.SQL(
            "CREATE TRIGGER held_once BEFORE {} ON {} FOR EACH ROW EXECUTE FUNCTION held_once()"
        ).format(sql.SQL(events), sql.Identifier(table))
    )


@contextmanager
def end_the_held_statement(database_url: str) -> Iterator[list[int]]:
    """While the block runs, a thread ends the backend asleep in the held write, once; the
    list holds how many were ended (empty: the write never came)."""
    ended: list[int] = []

    def end() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event = 'PgSleep'"
                ).fetchall()
                if rows:
                    ended.append(len(rows))
                    return
                time.sleep(0.02)

    thread = threading.Thread(target=end)
    thread.start()
    try:
        yield ended
    finally:
        thread.join()
