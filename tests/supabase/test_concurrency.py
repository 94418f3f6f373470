"""Atomicity through PostgREST: many clients at once, each call one RPC, one transaction."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import UUID

from core.store.supabase import SupabaseStore
from tests.store.helpers import pull_request

from .stack import SupabaseStack

CLIENTS = 8


async def clients(stack: SupabaseStack, n: int = CLIENTS) -> list[SupabaseStore]:
    """Separate stores: separate HTTP connection pools, as separate worker processes have."""
    return [await SupabaseStore.connect(stack.url, stack.service_key) for _ in range(n)]


async def test_chunk_numbers_are_contiguous_under_concurrency(
    store: SupabaseStore, supabase: SupabaseStack, db
) -> None:
    a = (await store.register_backfill("octo", "a", 10)).backfill_state_id
    b = (await store.register_backfill("octo", "b", 10)).backfill_state_id
    sessions = await clients(supabase)
    got: dict[UUID, list[int]] = {a: [], b: []}

    async def caller(i: int, s: SupabaseStore) -> None:
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


async def test_clients_race_over_backfills_one_holder_each(
    store: SupabaseStore, supabase: SupabaseStack
) -> None:
    for i in range(60):
        await store.register_backfill("octo", f"repo{i}", 100)
    sessions = await clients(supabase)
    claimed: list[tuple[int, UUID, int]] = []

    async def claimer(i: int, s: SupabaseStore) -> None:
        while (lease := await s.claim_backfill(f"w{i}", lease_seconds=300)) is not None:
            claimed.append((i, lease.backfill_state_id, lease.claim_token))

    try:
        await asyncio.gather(*(claimer(i, s) for i, s in enumerate(sessions)))
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    by_state = Counter(state for _, state, _ in claimed)
    assert len(by_state) == 60 and set(by_state.values()) == {1}
    assert len({token for _, _, token in claimed}) == 60  # every claim a fresh token
    assert len({i for i, _, _ in claimed}) > 1  # the clients really raced


async def test_only_one_of_two_racing_commits_of_a_chunk_lands(
    store: SupabaseStore, supabase: SupabaseStack, db
) -> None:
    """The same chunk committed by two clients at once: one transaction wins, one is refused."""
    await store.register_backfill("octo", "repo", 10)
    lease = await store.claim_backfill("w", lease_seconds=120)
    assert lease is not None
    chunk = await store.start_chunk(lease, "w")
    assert chunk is not None
    other = await SupabaseStore.connect(supabase.url, supabase.service_key)
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
