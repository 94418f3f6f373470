"""Claims, leases and fencing: one holder at a time, skip-locked, expired holders fenced off."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from uuid import UUID

import psycopg
import pytest

from core.store import Store
from tests.support.store_rows import pull_request


async def register(store: Store, n: int, prefix: str = "repo") -> list[UUID]:
    regs = [await store.register_backfill("octo", f"{prefix}{i}", 100) for i in range(n)]
    return [r.backfill_state_id for r in regs]


def expire(db: psycopg.Connection, state_id: UUID) -> None:
    """Move the lease into the past on the database clock instead of sleeping."""
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 second' "
        "WHERE id = %s",
        (state_id,),
    )


async def test_eight_sessions_race_over_200_backfills(store: Store, connect_store) -> None:
    await register(store, 200)
    sessions = [await connect_store(max_size=1) for _ in range(8)]
    claimed: list[tuple[int, UUID, int]] = []

    async def claimer(i: int, s: Store) -> None:
        while (lease := await s.claim_backfill(f"w{i}", lease_seconds=300)) is not None:
            claimed.append((i, lease.backfill_state_id, lease.claim_token))

    await asyncio.gather(*(claimer(i, s) for i, s in enumerate(sessions)))

    by_state = Counter(state for _, state, _ in claimed)
    assert len(by_state) == 200
    assert set(by_state.values()) == {1}  # each backfill exactly one holder
    tokens = [token for _, _, token in claimed]
    assert len(set(tokens)) == 200  # every claim a fresh fencing token
    assert len({i for i, _, _ in claimed}) > 1  # the sessions really raced


async def test_locked_row_is_skipped_not_waited_on(store: Store, db, database_url) -> None:
    first, second = await register(store, 2)
    with psycopg.connect(database_url) as holder:
        holder.execute(
            "SELECT 1 FROM progressive_backfill_state WHERE id = %s FOR UPDATE", (first,)
        )
        started = time.monotonic()
        lease = await store.claim_backfill("w", lease_seconds=60)
        waited = time.monotonic() - started
        holder.rollback()
    assert lease is not None and lease.backfill_state_id == second
    assert waited < 2  # skipped at once (holder keeps its lock for the whole block)


async def test_new_backfills_go_first_then_least_recently_claimed(store: Store) -> None:
    a, b = await register(store, 2)
    lease = await store.claim_backfill("w")
    assert lease is not None and lease.backfill_state_id == a
    assert await store.release(lease)
    lease = await store.claim_backfill("w")  # b has never been claimed: it goes first
    assert lease is not None and lease.backfill_state_id == b
    assert await store.release(lease)
    lease = await store.claim_backfill("w")  # a was claimed longest ago
    assert lease is not None and lease.backfill_state_id == a


async def test_expired_holder_can_neither_heartbeat_nor_commit(store: Store, db) -> None:
    (state_id,) = await register(store, 1)
    lease = await store.claim_backfill("old", lease_seconds=60)
    assert lease is not None
    chunk = await store.start_chunk(lease, "old")
    assert chunk is not None and await store.heartbeat(lease) is not None

    expire(db, state_id)
    assert await store.heartbeat(lease) is None
    assert await store.start_chunk(lease, "old") is None
    result = await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=100
    )
    assert not result.committed and result.reason == "lease lost"
    assert db.execute("SELECT count(*) AS n FROM pull_requests").fetchone()["n"] == 0

    # A new holder takes over with a larger token; the old token stays fenced off.
    new = await store.claim_backfill("new", lease_seconds=60)
    assert new is not None and new.claim_token > lease.claim_token
    result = await store.commit_chunk(
        chunk, [pull_request(1)], cursor_after="c1", has_next_page=True, total_prs=100
    )
    assert not result.committed
    state = db.execute(
        "SELECT cursor, processed_prs FROM progressive_backfill_state WHERE id = %s", (state_id,)
    ).fetchone()
    assert state == {"cursor": None, "processed_prs": 0}
    assert not await store.release(lease)
    assert await store.release(new)


async def test_release_makes_the_backfill_claimable_again(store: Store) -> None:
    await register(store, 1)
    lease = await store.claim_backfill("w")
    assert lease is not None
    assert await store.claim_backfill("other") is None  # held
    assert await store.release(lease)
    again = await store.claim_backfill("other")
    assert again is not None and again.backfill_state_id == lease.backfill_state_id


async def test_lease_must_be_positive(store: Store) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        await store.claim_backfill("w", lease_seconds=0)
