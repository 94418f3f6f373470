"""The recovery functions follow the schema's rules: service_role only, invoker's rights,
a pinned search_path (Supabase exposes public functions over PostgREST)."""

from __future__ import annotations

import psycopg
import pytest

FUNCTIONS = [
    "recovery_plan(integer)",
    "prune_completed_chunks(integer, integer, boolean, boolean, bigint)",
    "recover_stuck_chunks(integer, integer, boolean, integer, bigint)",
]


@pytest.mark.parametrize("signature", FUNCTIONS)
def test_only_service_role_may_execute(db, signature: str) -> None:
    row = db.execute(
        "SELECT p.prosecdef, p.proconfig, "
        "has_function_privilege('service_role', p.oid, 'EXECUTE') AS service, "
        "has_function_privilege('anon', p.oid, 'EXECUTE') AS anon, "
        "has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated "
        "FROM pg_proc p WHERE p.oid = %s::regprocedure",
        (signature,),
    ).fetchone()
    assert row == {
        "prosecdef": False,
        "proconfig": ["search_path=public, pg_temp"],
        "service": True,
        "anon": False,
        "authenticated": False,
    }


def test_service_role_can_run_a_recovery(db) -> None:
    db.execute("SET ROLE service_role")
    report = db.execute("SELECT recover_stuck_chunks(30, 30, false) AS r").fetchone()["r"]
    assert report["chunks"] == [] and report["cleanup"]["deleted"] == 0


@pytest.mark.parametrize(
    "call",
    [
        "SELECT recover_stuck_chunks(0, 30, true)",
        "SELECT recover_stuck_chunks(30, 0, true)",
        "SELECT recover_stuck_chunks(NULL, 30, true)",
        "SELECT prune_completed_chunks(-5, 10)",
        "SELECT prune_completed_chunks(7, 0)",
        "SELECT prune_completed_chunks(7, 10, true, true, 0)",
        "SELECT recover_stuck_chunks(30, 30, true, 10, NULL)",
    ],
)
def test_nonsense_thresholds_are_refused_in_sql(db, call: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute(call)
