"""A refusal of the database reaches the engine as its one-line error through either wire:
psycopg's SQLSTATE, or PostgREST's mapped to the same class (core/store/supabase_errors.py),
then classified once by `Store` (core/store/refusals.py). The refusals are raised by a real
trigger with the SQLSTATE the server itself uses (a read-only session cannot be made from
outside a pool's established sessions; tests/store/refusals covers the real settings)."""

from __future__ import annotations

import psycopg
import pytest

from core.errors import DatabaseBusy, DatabaseReadOnly
from core.store import Store
from core.store.refusals import refusal


def refuse_inserts(db: psycopg.Connection, sqlstate: str, message: str) -> None:
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}'; END $$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON repositories "
        "FOR EACH ROW EXECUTE FUNCTION refuse()"
    )


@pytest.mark.parametrize(
    ("sqlstate", "message", "kind", "words"),
    [
        (
            "25006",
            "cannot execute INSERT in a read-only transaction",
            DatabaseReadOnly,
            "read-only",
        ),
        ("55P03", "canceling statement due to lock timeout", DatabaseBusy, "lock_timeout"),
        ("57014", "canceling statement due to statement timeout", DatabaseBusy, "57014"),
    ],
)
async def test_a_refusal_is_its_one_line_error_through_either_wire(
    store: Store, db, sqlstate: str, message: str, kind: type, words: str
) -> None:
    refuse_inserts(db, sqlstate, message)
    with pytest.raises(kind) as raised:
        await store.register_backfill("octo", "repo", 5)
    assert words in str(raised.value) and message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert db.execute("SELECT count(*) AS n FROM repositories").fetchone()["n"] == 0


def test_kin_and_strangers() -> None:
    standby = psycopg.errors.lookup("55000")("cannot acquire lock while recovery is in progress")
    assert isinstance(refusal(standby), DatabaseReadOnly)
    other = psycopg.errors.lookup("55000")("sequence is not yet defined in this session")
    assert refusal(other) is None  # the same SQLSTATE, not a standby's words
    assert refusal(psycopg.errors.lookup("23505")("duplicate key")) is None
    assert refusal(ValueError("x")) is None
