"""The token's server-time ledger (`reserve_server_time`, `settle_server_time`): every process
on a token reserves a request's estimated server time before sending it, atomically, so the
server time admitted and in flight within a window never passes the budget. Time is moved in
the database (reservations made older), not slept."""

from __future__ import annotations

import asyncio

import pytest

from core.github.pacing import ServerTimePacer
from core.store import Store
from tests.support.held_statement import end_the_held_statement, hold_first_write

TOKEN = "sha256:ledger"
WINDOW, BUDGET, KILL = 60.0, 10.0, 5.0


async def reserve(store: Store, seconds: float, process: str = "a") -> tuple[int | None, float]:
    return await store.reserve_server_time(
        TOKEN, process=process, seconds=seconds, window=WINDOW, budget=BUDGET, kill=KILL
    )


def age(db, seconds: float) -> None:
    """Every reservation of the token started `seconds` earlier."""
    db.execute(
        "UPDATE github_server_time SET started_at = started_at - make_interval(secs => %s),"
        " settled_at = settled_at - make_interval(secs => %s) WHERE token_fingerprint = %s",
        (seconds, seconds, TOKEN),
    )
    db.commit()


async def test_reservations_fill_the_budget_then_say_when_room_returns(store: Store, db) -> None:
    granted = [await reserve(store, 3.0) for _ in range(3)]
    assert all(r is not None and wait == 0 for r, wait in granted)
    for reservation, _ in granted:
        assert await store.settle_server_time(reservation, 3.0)  # type: ignore[arg-type]
    age(db, 20)
    refused, wait = await reserve(store, 3.0)  # 9 of 10 used: no room for 3 more
    assert refused is None
    assert wait == pytest.approx(40, abs=1)  # when the oldest leaves the 60 s window
    assert (await reserve(store, 1.0))[0] is not None  # a smaller one still fits
    age(db, 41)
    assert (await reserve(store, 3.0))[0] is not None  # the first three left the window


async def test_settling_replaces_the_estimate_with_the_measured_time(store: Store) -> None:
    first, _ = await reserve(store, 8.0)
    assert first is not None
    assert (await reserve(store, 3.0))[0] is None
    assert await store.settle_server_time(first, 2.0)
    assert not await store.settle_server_time(first, 9.0)  # settled once
    assert (await reserve(store, 3.0))[0] is not None  # 2 + 3 <= 10


async def test_a_request_in_flight_counts_its_elapsed_time_up_to_the_kill(store: Store, db) -> None:
    """A process killed mid-request never settles: its reservation counts what GitHub can
    charge at most (the kill), until it leaves the window."""
    assert (await reserve(store, 1.0))[0] is not None
    age(db, 3)
    assert (await reserve(store, 7.0))[0] is None  # 3 s elapsed + 7 > 10
    assert (await reserve(store, 6.0))[0] is not None
    age(db, 30)
    # now 5 (capped at the kill) + 6 (its own estimate): nothing above 10 - 11 fits
    refused, wait = await reserve(store, 0.5)
    assert refused is None and 0 < wait <= WINDOW / 60  # answers in flight: ask again soon
    age(db, 31)
    assert (await reserve(store, 9.0))[0] is not None  # both left the window


async def test_alone_in_the_window_a_request_over_the_budget_still_goes(store: Store) -> None:
    assert (await reserve(store, 25.0))[0] is not None
    assert (await reserve(store, 0.1))[0] is None


async def test_two_processes_reserving_at_once_never_pass_the_budget(connect_store, db) -> None:
    """Forty reservations of 1 s from two stores (two processes' connections), released at the
    same instant: exactly the budget's worth is granted, whichever process asked. (Held back
    by a lock on the ledger until all forty wait; without the function's own lock each would
    see the empty window and all forty would go.)"""
    stores = [await connect_store(max_size=20) for _ in range(2)]
    with db.transaction():
        db.execute("LOCK TABLE github_server_time IN ACCESS EXCLUSIVE MODE")
        asking = [
            asyncio.create_task(reserve(stores[i % 2], 1.0, process=f"p{i % 2}")) for i in range(40)
        ]
        waiting = "SELECT count(*) AS n FROM pg_locks WHERE NOT granted"
        for _ in range(3000):  # until every one of them waits (30 s at most)
            if db.execute(waiting).fetchone()["n"] >= 40:
                break
            await asyncio.sleep(0.01)
    answers = await asyncio.gather(*asking)
    assert sum(1 for r, _ in answers if r is not None) == BUDGET
    row = db.execute(
        "SELECT sum(estimate) AS total FROM github_server_time WHERE token_fingerprint = %s",
        (TOKEN,),
    ).fetchone()
    assert row["total"] == BUDGET


class StoreLedger:
    """The pacer's ledger over the store, as the worker's presence wires it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def reserve(
        self, seconds: float, *, window: float, budget: float, kill: float
    ) -> tuple[int | None, float]:
        return await self.store.reserve_server_time(
            TOKEN, process="a", seconds=seconds, window=window, budget=budget, kill=kill
        )

    async def settle(self, reservation: int, seconds: float) -> None:
        await self.store.settle_server_time(reservation, seconds)


@pytest.mark.psycopg_only
async def test_a_settlement_lost_to_a_dropped_connection_is_made_on_the_next_ledger_call(
    store: Store, db, database_url: str
) -> None:
    """The settlement's connection is ended mid-statement (what a Postgres restart does to a
    call in progress; one ended while idle in the pool is replaced before use): it fails, and
    the next reservation settles it first. Left unsettled it counted as still running, up to
    the kill, for a whole window: a few such answers filled the budget and stalled every
    process on the token for a minute."""
    pacer = ServerTimePacer(WINDOW, BUDGET, ledger=StoreLedger(store))
    ticket = await pacer.acquire()
    hold_first_write(db, "github_server_time", "UPDATE")
    with end_the_held_statement(database_url) as ended:
        seconds = await pacer.finish(ticket)  # its connection is gone: logged, kept
    assert ended
    unsettled = "SELECT count(*) AS n FROM github_server_time WHERE NOT settled"
    assert db.execute(unsettled).fetchone()["n"] == 1
    pacer.release(await pacer.acquire())  # the ledger is back
    row = db.execute("SELECT seconds FROM github_server_time ORDER BY id LIMIT 1").fetchone()
    assert row["seconds"] == pytest.approx(seconds)
    assert db.execute(unsettled).fetchone()["n"] == 1  # only the one just released


@pytest.mark.psycopg_only
async def test_answers_coming_in_together_each_settle_and_the_next_request_reserves(
    store: Store, db
) -> None:
    """Two answers of one process come in at once (two slots on one token) while a third
    request asks the ledger for room. Each settles once, and the third is reserved in the
    ledger. Before, every ledger call settled every pending answer and then deleted it from
    the list: the calls after the first found it gone (KeyError), so the second answer stayed
    unsettled (counted up to the kill for a window) and the third request went out without a
    reservation, unseen by every other process on the token."""
    pacer = ServerTimePacer(WINDOW, BUDGET, ledger=StoreLedger(store))
    first, second = await pacer.acquire(), await pacer.acquire()
    *_, third = await asyncio.gather(pacer.finish(first), pacer.finish(second), pacer.acquire())
    rows = db.execute("SELECT settled FROM github_server_time ORDER BY id").fetchall()
    assert [row["settled"] for row in rows] == [True, True, False]
    await pacer.finish(third)
    assert db.execute("SELECT bool_and(settled) AS all FROM github_server_time").fetchone() == {
        "all": True
    }
