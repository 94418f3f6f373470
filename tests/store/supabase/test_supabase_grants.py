"""The API's public roles get nothing: proven through PostgREST, on a project with data.

Every table and every function in `public` is found in the catalog (so a future migration
cannot slip one past), then read, written and called with the `anon` and `authenticated`
keys. The database starts with Supabase's default privileges (ALL to anon), so what keeps them
out is the migrations' REVOKEs - and behind those, RLS, proven by granting SELECT back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.store import Store
from tests.support.store_rows import pull_request
from tests.support.supabase_stack import SupabaseStack, sign

DUMMY: dict[str, Any] = {
    "uuid": str(uuid.uuid4()),
    "uuid[]": [str(uuid.uuid4())],
    "integer": 1,
    "bigint": 1,
    "bigint[]": [1],
    "integer[]": [1],
    "text": "octo",
    "text[]": ["octo"],
    "boolean": False,
    "jsonb": [],
    "double precision": 1.0,
    "timestamp with time zone": "2030-01-01T00:00:00Z",
    "interval": "1 hour",
}


def tables(db) -> list[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1"
    ).fetchall()
    return [r["relname"] for r in rows]


def functions(db) -> list[tuple[str, dict[str, Any]]]:
    """Each function of `public` with named arguments PostgREST will resolve it by."""
    rows = db.execute(
        "SELECT p.proname, p.proargnames, p.proargmodes, "
        "       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t) AS types "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        # Trigger functions are no endpoint: PostgREST cannot call them (their grants are
        # revoked all the same).
        "WHERE n.nspname = 'public' AND p.prorettype <> 'trigger'::regtype ORDER BY 1"
    ).fetchall()
    found = []
    for r in rows:
        names = [
            name
            for i, name in enumerate(r["proargnames"] or [])
            if r["proargmodes"] is None or r["proargmodes"][i] in ("i", "b")
        ]
        found.append((r["proname"], {n: DUMMY[t] for n, t in zip(names, r["types"], strict=True)}))
    return found


async def seed(store: Store) -> None:
    """A row in every table, so a leak would show."""
    await store.register_backfill("octo", "repo", 10)
    lease = await store.claim_backfill("w", lease_seconds=300)
    assert lease is not None
    chunk = await store.start_chunk(lease, "w")
    assert chunk is not None
    # PR 2's number is out of range: refused and recorded in pull_request_failures.
    page = [
        pull_request(1, reviews=1, comments=1, threads=[1]),
        {**pull_request(2), "number": 2**31},
    ]
    assert (
        await store.commit_chunk(chunk, page, cursor_after="c", has_next_page=True, total_prs=10)
    ).committed
    # A failed chunk (counted in chunk_failure_counts), then one left processing.
    failed = await store.start_chunk(lease, "w")
    assert failed is not None and await store.fail_chunk(failed, "seeded")
    assert await store.start_chunk(lease, "w") is not None
    await store.worker_heartbeat("w", host="h", pid=1, status="running")
    await store.record_rate_limit(
        "sha256:abc", remaining=1, limit=5000, used=4999, reset_at=datetime.now(UTC)
    )
    await store.reserve_server_time(
        "sha256:abc", process="p", seconds=1.0, window=60.0, budget=54.0, kill=10.0
    )


def snapshot(db, names: list[str]) -> dict[str, int]:
    return {t: db.execute(f'SELECT count(*) AS n FROM "{t}"').fetchone()["n"] for t in names}


def headers(key: str) -> dict[str, str]:
    return {"apikey": key, "Authorization": f"Bearer {key}", "Prefer": "return=representation"}


@pytest.fixture(params=["anon", "authenticated"])
def public_key(request: pytest.FixtureRequest, supabase: SupabaseStack) -> str:
    return supabase.anon_key if request.param == "anon" else supabase.authenticated_key


def assert_denied(response: httpx.Response, what: str) -> None:
    assert response.status_code in (401, 403), (what, response.status_code, response.text)
    body = response.json()
    assert body["code"] == "42501" and "permission denied" in body["message"], (what, body)


async def test_public_keys_can_neither_read_nor_write_any_table(
    store: Store, supabase: SupabaseStack, db, public_key: str
) -> None:
    await seed(store)
    names = tables(db)
    assert {
        "repositories",
        "pull_requests",
        "backfill_chunks",
        "backfill_schema_migrations",
    } <= set(names)
    before = snapshot(db, names)
    assert all(before[t] > 0 for t in names), before  # every table has something to leak
    rest = f"{supabase.url}/rest/v1"
    async with httpx.AsyncClient(headers=headers(public_key)) as client:
        for table in names:
            assert_denied(await client.get(f"{rest}/{table}?select=*"), f"GET {table}")
            assert_denied(await client.post(f"{rest}/{table}", json={}), f"POST {table}")
            assert_denied(await client.patch(f"{rest}/{table}", json={}), f"PATCH {table}")
            assert_denied(await client.delete(f"{rest}/{table}"), f"DELETE {table}")
    assert snapshot(db, names) == before


async def test_public_keys_can_call_no_function(
    store: Store, supabase: SupabaseStack, db, public_key: str
) -> None:
    await seed(store)
    names = tables(db)
    found = functions(db)
    assert {"commit_chunk", "get_next_chunk_number", "recover_stuck_chunks"} <= {
        f for f, _ in found
    }
    before = snapshot(db, names)
    before_chunk_numbers = db.execute(
        "SELECT id, last_chunk_number, claim_token FROM progressive_backfill_state"
    ).fetchall()
    rest = f"{supabase.url}/rest/v1"
    async with httpx.AsyncClient(headers=headers(public_key)) as client:
        for name, args in found:
            assert_denied(await client.post(f"{rest}/rpc/{name}", json=args), f"rpc {name}")
    assert snapshot(db, names) == before
    assert (
        db.execute(
            "SELECT id, last_chunk_number, claim_token FROM progressive_backfill_state"
        ).fetchall()
        == before_chunk_numbers
    )


def test_the_service_key_reaches_every_function_by_the_same_calls(
    supabase: SupabaseStack, db
) -> None:
    """The control for the test above: the calls resolve, so the denial was the grant's."""
    rest = f"{supabase.url}/rest/v1"
    with httpx.Client(headers=headers(supabase.service_key)) as client:
        for name, args in functions(db):
            response = client.post(f"{rest}/rpc/{name}", json=args)
            code = response.json().get("code") if not response.is_success else None
            assert code not in ("42501", "PGRST202", "PGRST203"), (name, response.text)


async def test_rls_hides_every_row_even_if_a_grant_slips_through(
    store: Store, supabase: SupabaseStack, db
) -> None:
    await seed(store)
    names = tables(db)
    flags = db.execute(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
    ).fetchall()
    assert all(f["relrowsecurity"] for f in flags), flags
    db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO anon")
    async with httpx.AsyncClient(headers=headers(supabase.anon_key)) as client:
        for table in names:
            response = await client.get(f"{supabase.url}/rest/v1/{table}?select=*")
            assert response.status_code == 200 and response.json() == [], (table, response.text)


def test_a_key_signed_with_another_secret_is_refused(supabase: SupabaseStack) -> None:
    forged = sign("not-the-project-secret-" + "x" * 20, "service_role")
    expired = sign(supabase.jwt_secret, "service_role", lifetime=-60)
    with httpx.Client() as client:
        for key in (forged, expired):
            response = client.get(f"{supabase.url}/rest/v1/repositories", headers=headers(key))
            assert response.status_code == 401 and response.json()["code"] == "PGRST301"


def test_keys_are_what_supabase_issues(supabase: SupabaseStack) -> None:
    import jwt

    claims = jwt.decode(supabase.service_key, supabase.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "service_role"
    assert claims["exp"] > (datetime.now(UTC) + timedelta(days=300)).timestamp()
