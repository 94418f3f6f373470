"""Atomicity through PostgREST: many clients at once, each call one RPC, one transaction."""

from __future__ import annotations

import asyncio
from uuid import UUID

from core.store import Store, supabase_store
from tests.support.store_rows import pull_request
from tests.support.supabase_stack import SupabaseStack

CLIENTS = 8


async def clients(stack: SupabaseStack, n: int = CLIENTS) -> list[Store]:
    """Separate stores: separate HTTP connection pools, as separate worker processes have."""
    return [await supabase_store(stack.url, stack.service_key) for _ in range(n)]


async def test_chunk_numbers_are_contiguous_under_concurrency(
    store: Store, supabase: SupabaseStack, db
) -> None:
    a = (await store.register_backfill("octo", "a", 10)).backfill_state_id
    b = (await store.register_backfill("octo", "b", 10)).backfill_state_id
    sessions = await clients(supabase)
    got: dict[UUID, list[int]] = {a: [], b: []}

    async def caller(i: int, s: Store) -> None:
        state = a if i % 2 else b
        for _ in range(25):
            got[state].append(await s.next_chunk_number(state))

    try:
        await asyncio.gather(*(caller(i, s) for i, s in enumerate(sessions)))
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    for state in (a, b):  # four clients per backfill, 25 calls each
        assert sorted(got[state]) == list(range(1, 101))
        row = db.execute(
            "SELECT last_chunk_number FROM progressive_backfill_state WHERE id = %s", (state,)
        ).fetchone()
        assert row["last_chunk_number"] == 100


async def test_only_one_of_two_racing_commits_of_a_chunk_lands(
    store: Store, supabase: SupabaseStack, db
) -> None:
    """The same chunk committed by two clients at once: one transaction wins, one is refused."""
    await store.register_backfill("octo", "repo", 10)
    lease = await store.claim_backfill("w", lease_seconds=120)
    assert lease is not None
    chunk = await store.start_chunk(lease, "w")
    assert chunk is not None
    other = await supabase_store(supabase.url, supabase.service_key)
    page = [pull_request(n, reviews=2, comments=2) for n in range(1, 6)]
    try:
        results = await asyncio.gather(
            *(
                s.commit_chunk(chunk, page, cursor_after="c5", has_next_page=True, total_prs=10)
                for s in (store, other)
            )
        )
    finally:
        await other.close()
    assert sorted(r.committed for r in results) == [False, True]
    state = db.execute("SELECT processed_prs, cursor FROM progressive_backfill_state").fetchone()
    assert state == {"processed_prs": 5, "cursor": "c5"}
    assert db.execute("SELECT count(*) AS n FROM reviews").fetchone()["n"] == 10
