"""Every read and control gives through PostgREST what it gives through psycopg, same data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.store import Store, postgres_store
from tests.support.recovery_rows import age, expire_lease
from tests.support.store_rows import pull_request

# Computed from now() at the instant of each call, so they differ between two calls.
MOVING = {"observed_at", "prs_per_minute", "eta_seconds"}


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[Store]:
    s = await postgres_store(database_url, max_size=2)
    try:
        yield s
    finally:
        await s.close()


async def seed(store: Store, db) -> None:
    """alpha: chunks completed, failed, processing and stuck; beta: paused; gamma: completed."""
    alpha = await store.register_backfill("octo", "alpha", 10)
    beta = await store.register_backfill("octo", "beta", 5)
    gamma = await store.register_backfill("octo", "gamma", 1)
    # A worker that died two hours ago left a chunk processing; its lease ran out.
    dead = await store.claim_backfill("w0", lease_seconds=300, only=[alpha.backfill_state_id])
    assert dead is not None
    stuck, orphan = await store.start_chunk(dead, "w0"), await store.start_chunk(dead, "w0")
    assert stuck is not None and orphan is not None
    expire_lease(db, dead)
    lease = await store.claim_backfill("w1", lease_seconds=300, only=[alpha.backfill_state_id])
    assert lease is not None
    done, failed, processing = [await store.start_chunk(lease, "w1") for _ in range(3)]
    assert done and failed and processing
    await store.commit_chunk(
        done, [pull_request(1, reviews=2)], cursor_after="c1", has_next_page=True, total_prs=10
    )
    assert await store.fail_chunk(failed, "502 from GitHub")
    age(db, stuck.id, minutes=120)
    assert await store.set_waiting(lease, datetime.now(UTC) + timedelta(minutes=5))
    assert await store.pause_backfill(beta.backfill_state_id)
    last = await store.claim_backfill("w2", only=[gamma.backfill_state_id])
    assert last is not None
    chunk = await store.start_chunk(last, "w2")
    assert chunk is not None
    assert (
        await store.commit_chunk(
            chunk, [pull_request(1, prefix="G")], cursor_after="g", has_next_page=False, total_prs=1
        )
    ).committed
    await store.worker_heartbeat(
        "w1", host="h1", pid=11, status="running", backfill_state_id=alpha.backfill_state_id
    )
    await store.worker_heartbeat("w2", host="h2", pid=12, status="stopped", detail="done")
    await store.record_rate_limit(
        "sha256:aaa",
        remaining=4000,
        limit=5000,
        used=1000,
        reset_at=datetime.now(UTC) + timedelta(minutes=30),
        last_cost=2,
        average_cost_per_query=1.5,
        queries=7,
    )


def steady(rows: list) -> list[dict]:
    return [{k: v for k, v in r.model_dump().items() if k not in MOVING} for r in rows]


async def test_stuck_chunks_match_the_psycopg_store(store: Store, pg: Store, db) -> None:
    await seed(store, db)
    stuck = await store.stuck_chunks(60)
    assert [c.chunk_number for c in stuck] == [1]
    assert [c.model_dump(exclude={"age_seconds"}) for c in stuck] == [
        c.model_dump(exclude={"age_seconds"}) for c in await pg.stuck_chunks(60)
    ]
    # Threshold 0: every chunk nobody holds (the dead worker's two; w1's is in flight).
    in_flight = await store.stuck_chunks(0, limit=1)
    assert len(in_flight) == 1 and len(await pg.stuck_chunks(0)) == 2


async def test_reads_match_the_psycopg_store(store: Store, pg: Store, db) -> None:
    await seed(store, db)
    alpha = (await pg.backfill_progress())[0].backfill_state_id
    assert await store.chunk_statistics() == await pg.chunk_statistics()
    for kwargs in ({"backfill_state_id": alpha, "stuck_minutes": 60}, {"since_hours": 1}):
        assert await store.chunk_statistics(**kwargs) == await pg.chunk_statistics(**kwargs)
    stats = await store.chunk_statistics(backfill_state_id=alpha, stuck_minutes=60)
    assert (stats.completed, stats.failed, stats.processing, stats.stuck) == (
        1,
        1,
        3,
        1,
    )  # the dead worker left two, w1 is on one

    progress = await store.backfill_progress()
    assert steady(progress) == steady(await pg.backfill_progress())
    by_repo = {p.repository: p for p in progress}
    assert by_repo["octo/alpha"].waiting_until is not None
    assert by_repo["octo/alpha"].prs_per_minute > 0
    assert (by_repo["octo/beta"].status, by_repo["octo/gamma"].percent) == ("paused", 100)

    assert await store.workers() == await pg.workers()
    assert [(w.id, w.alive, w.repository) for w in await store.workers()] == [
        ("w1", True, "octo/alpha"),
        ("w2", False, None),
    ]
    assert await store.rate_limits() == await pg.rate_limits()
    assert (await store.rate_limits())[0].average_cost_per_query == 1.5
    assert await store.work_summary() == await pg.work_summary()
    assert await store.work_summary(only=[alpha]) == await pg.work_summary(only=[alpha])


async def test_controls_act_as_on_postgres(store: Store, db) -> None:
    state = (await store.register_backfill("octo", "repo", 3)).backfill_state_id
    assert await store.pause_backfill(state) and not await store.pause_backfill(state)
    assert await store.claim_backfill("w") is None
    assert await store.resume_backfill(state)
    lease = await store.claim_backfill("w")
    assert lease is not None and lease.total_prs == 3
    assert await store.heartbeat(lease, lease_seconds=120) is not None
    chunk = await store.start_chunk(lease, "w")
    assert chunk is not None and await store.record_chunk_prs(chunk, [1, 2, 3])
    row = db.execute("SELECT pr_numbers, pr_count FROM backfill_chunks").fetchone()
    assert row == {"pr_numbers": [1, 2, 3], "pr_count": 3}
    page = [pull_request(n) for n in (1, 2, 3)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c3", has_next_page=False, total_prs=3
    )
    assert result.committed and result.status == "completed" and result.processed_prs == 3
    assert await store.reopen_backfill(state, 5)
    again = await store.claim_backfill("w")
    assert again is not None and again.cursor == "c3" and again.total_prs == 5


async def test_recovery_reports_match_the_psycopg_store(store: Store, pg: Store, db) -> None:
    await seed(store, db)
    dry = await store.recover_stuck_chunks(stuck_minutes=60, cleanup_days=30, dry_run=True)
    same = await pg.recover_stuck_chunks(stuck_minutes=60, cleanup_days=30, dry_run=True)
    for report in (dry, same):  # the clock's readings differ by the milliseconds between calls
        for key in ("observed_at", "stuck_before"):
            report.pop(key)
        report["cleanup"].pop("cutoff")
        report["cleanup"].pop("workers_cutoff")
    assert dry == same and len(dry["chunks"]) == 1
    live = await store.recover_stuck_chunks(stuck_minutes=60, cleanup_days=30, dry_run=False)
    assert [c["outcome"] for c in live["chunks"]] == ["applied"]
    assert (await store.chunk_statistics(stuck_minutes=60)).stuck == 0
    db.execute(
        "UPDATE backfill_chunks SET completed_at = now() - interval '40 days', "
        "started_at = now() - interval '40 days' WHERE status = 'completed'"
    )
    pruned = await store.prune_completed_chunks(cleanup_days=30, batch=10)
    assert pruned["deleted"] == 2


async def test_more_backfills_than_supabases_row_cap_are_all_shown(
    store: Store, pg: Store, supabase, db
) -> None:
    """PostgREST here caps row sets at 1,000 as Supabase does; progress must not stop there."""
    db.execute(
        "INSERT INTO repositories (owner, name) "
        "SELECT 'many', 'r' || lpad(g::text, 4, '0') FROM generate_series(1, 1200) g"
    )
    db.execute("INSERT INTO progressive_backfill_state (repository_id) SELECT id FROM repositories")
    async with httpx.AsyncClient() as client:  # the cap is real: the row-set RPC stops at 1,000
        capped = await client.post(
            f"{supabase.url}/rest/v1/rpc/backfill_progress",
            json={},
            headers={
                "apikey": supabase.service_key,
                "Authorization": f"Bearer {supabase.service_key}",
            },
        )
    assert len(capped.json()) == 1000
    progress = await store.backfill_progress()
    assert len(progress) == 1200
    assert steady(progress) == steady(await pg.backfill_progress())
